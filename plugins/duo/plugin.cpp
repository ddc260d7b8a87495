#include "core/strategy/plugin_api.h"
#include "plugins/duo/duo.h"

ATTNLAB_DEFINE_PLUGIN("duo", attnlab::plugins::makeDuoFactory())
