// A plugin that speaks a future plugin API version: refused with the version in the reason.
#include "core/strategy/plugin_api.h"

extern "C" __attribute__((visibility("default"))) const AttnlabPluginDescriptor* attnlab_plugin_descriptor() {
    static const AttnlabPluginDescriptor descriptor{ATTNLAB_PLUGIN_API_VERSION + 1,
                                                    static_cast<uint32_t>(sizeof(AttnlabPluginDescriptor)),
                                                    ATTNLAB_ABI_TAG, "future", nullptr, nullptr};
    return &descriptor;
}
