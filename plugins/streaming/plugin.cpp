#include "core/strategy/plugin_api.h"
#include "plugins/streaming/streaming.h"

ATTNLAB_DEFINE_PLUGIN("streaming", attnlab::plugins::makeStreamingFactory())
