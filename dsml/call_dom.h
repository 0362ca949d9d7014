#pragma once
// A finished call as a pugixml DOM: <invoke name="…"><parameter name="…" string="true|false">raw
// value</parameter>…</invoke>. Built node by node (never by XML parsing): DSML values are not
// XML-escaped, so only the structure is borrowed, the bytes stay exact.
#include <pugixml.hpp>

#include "dsml/parser.h"

namespace whalebox::dsml {

// Fills `doc` (cleared first) and returns its <invoke> element.
pugi::xml_node build_call_dom(const ParsedCall& call, pugi::xml_document& doc);

}  // namespace whalebox::dsml
