// A plugin built with a wrong ABI tag: the registry must refuse it (issue 4).
#include "core/strategy/plugin_api.h"

extern "C" __attribute__((visibility("default"))) const AttnlabPluginDescriptor* attnlab_plugin_descriptor() {
    static const AttnlabPluginDescriptor descriptor{ATTNLAB_PLUGIN_API_VERSION,
                                                    static_cast<uint32_t>(sizeof(AttnlabPluginDescriptor)),
                                                    "msvc-1;cxx11abi=0;torch=0.1;api=1",
                                                    "badabi",
                                                    nullptr,
                                                    nullptr};
    return &descriptor;
}
