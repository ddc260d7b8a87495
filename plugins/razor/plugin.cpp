#include "core/strategy/plugin_api.h"
#include "plugins/razor/razor.h"

ATTNLAB_DEFINE_PLUGIN("razor", attnlab::plugins::makeRazorFactory())
