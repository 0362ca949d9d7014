#include "dsml/call_dom.h"

namespace whalebox::dsml {

pugi::xml_node build_call_dom(const ParsedCall& call, pugi::xml_document& doc) {
  doc.reset();
  pugi::xml_node invoke = doc.append_child("invoke");
  invoke.append_attribute("name").set_value(call.name.c_str());
  for (const Parameter& p : call.params) {
    pugi::xml_node param = invoke.append_child("parameter");
    param.append_attribute("name").set_value(p.name.c_str());
    param.append_attribute("string").set_value(p.is_string ? "true" : "false");
    // Set as text, never parsed: '<', '&' and quotes stay as sampled.
    param.append_child(pugi::node_pcdata).set_value(p.value.c_str());
  }
  return invoke;
}

}  // namespace whalebox::dsml
