#include "agent/tools.h"

#include <stdexcept>

namespace whalebox::agent {

void ToolRegistry::add(Tool tool) {
  if (find(tool.name)) throw std::logic_error("tool registered twice: " + tool.name);
  tools_.push_back(std::move(tool));
}

const Tool* ToolRegistry::find(const std::string& name) const {
  for (const auto& t : tools_)
    if (t.name == name) return &t;
  return nullptr;
}

dsml::Json ToolRegistry::openai_tools() const {
  dsml::Json list = dsml::Json::array();
  for (const auto& t : tools_) {
    dsml::Json fn;
    fn["name"] = t.name;
    fn["description"] = t.description;
    fn["parameters"] = t.parameters;
    list.push_back({{"type", "function"}, {"function", std::move(fn)}});
  }
  return list;
}

ToolRegistry builtin_tools() {
  ToolRegistry r;
  add_bash_tools(r);
  add_file_tools(r);
  add_search_tool(r);
  return r;
}

}  // namespace whalebox::agent
