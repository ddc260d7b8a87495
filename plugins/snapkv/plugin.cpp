#include "core/strategy/plugin_api.h"
#include "plugins/snapkv/snapkv.h"

ATTNLAB_DEFINE_PLUGIN("snapkv", attnlab::plugins::makeSnapKvFactory())
