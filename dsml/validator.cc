// Validation walks the call's DOM and checks each parameter against the tool's JSON Schema
// (type, enum, properties/required, items, anyOf/oneOf). Coercion happens only where the schema
// leaves one reading: "5" for an integer, a JSON text given where a string was declared.
#include "dsml/validator.h"

#include <cmath>
#include <cstring>
#include <set>

#include "dsml/call_dom.h"
#include "dsml/error.h"

namespace whalebox::dsml {
namespace {

std::string in_quotes(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string snippet(const Json& v) {
  std::string s = v.dump(-1, ' ', false, Json::error_handler_t::replace);
  return s.size() > 80 ? s.substr(0, 77) + "..." : s;
}

bool is_integral(const Json& v) {
  if (v.is_number_integer()) return true;
  if (!v.is_number_float()) return false;
  double d = v.get<double>();
  return std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.2e18;
}

bool has_type(const Json& v, std::string_view type) {
  if (type == "string") return v.is_string();
  if (type == "integer") return is_integral(v);
  if (type == "number") return v.is_number();
  if (type == "boolean") return v.is_boolean();
  if (type == "null") return v.is_null();
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  return true;  // unknown type names constrain nothing
}

std::vector<std::string> types_of(const Json& schema) {
  std::vector<std::string> types;
  auto it = schema.find("type");
  if (it == schema.end()) return types;
  if (it->is_string()) types.push_back(it->get<std::string>());
  if (it->is_array())
    for (const Json& t : *it)
      if (t.is_string()) types.push_back(t.get<std::string>());
  return types;
}

bool matches_types(const Json& v, const std::vector<std::string>& types) {
  if (types.empty()) return true;
  for (const std::string& t : types)
    if (has_type(v, t)) return true;
  return false;
}

std::string describe(const std::vector<std::string>& types) {
  std::string s;
  for (size_t i = 0; i < types.size(); ++i) s += (i ? " or " : "") + types[i];
  return s;
}

std::string_view type_name(const Json& v) {
  if (v.is_number_integer()) return "integer";
  if (v.is_number_float()) return "number";
  return v.type_name();
}

struct Checker {
  std::vector<ValidationError>& errors;
  std::string_view top;  // top-level parameter name, for the error record

  void fail(ErrorCode code, std::string message) { errors.push_back({code, std::string(top), std::move(message)}); }

  // Checks `v` against `schema`, coercing in place where unambiguous. True when it conforms.
  bool check(Json& v, const Json& schema, const std::string& path) {
    if (!schema.is_object()) return true;
    size_t before = errors.size();
    std::vector<std::string> types = types_of(schema);
    if (!matches_types(v, types) && v.is_string()) {
      Json parsed = Json::parse(v.get_ref<const std::string&>(), nullptr, false);
      if (!parsed.is_discarded() && !parsed.is_string() && matches_types(parsed, types)) v = std::move(parsed);
    }
    if (!matches_types(v, types)) {
      fail(ErrorCode::type_mismatch, "Parameter " + in_quotes(path) + " must be " + describe(types) +
                                         ", but got " + std::string(type_name(v)) + " " + snippet(v) + ".");
      return false;
    }
    if (v.is_number_float() && is_integral(v) && types.size() == 1 && types[0] == "integer")
      v = static_cast<int64_t>(v.get<double>());
    if (auto it = schema.find("enum"); it != schema.end() && it->is_array()) {
      bool found = false;
      for (const Json& e : *it) found = found || e == v;
      if (!found) {
        fail(ErrorCode::enum_mismatch, "Parameter " + in_quotes(path) + " must be one of " +
                                           python_dumps(*it) + ", but got " + snippet(v) + ".");
        return false;
      }
    }
    for (const char* key : {"anyOf", "oneOf"}) {
      auto it = schema.find(key);
      if (it == schema.end() || !it->is_array()) continue;
      bool any = false;
      for (const Json& sub : *it) {
        Json copy = v;
        std::vector<ValidationError> scratch;
        Checker c{scratch, top};
        if (c.check(copy, sub, path)) {
          v = std::move(copy);
          any = true;
          break;
        }
      }
      if (!any) {
        fail(ErrorCode::type_mismatch, "Parameter " + in_quotes(path) + " does not match any allowed schema " +
                                           python_dumps(*it) + "; got " + snippet(v) + ".");
        return false;
      }
    }
    if (v.is_object()) check_object(v, schema, path);
    if (v.is_array())
      if (auto items = schema.find("items"); items != schema.end() && items->is_object())
        for (size_t i = 0; i < v.size(); ++i) check(v[i], *items, path + "[" + std::to_string(i) + "]");
    return errors.size() == before;
  }

  void check_object(Json& v, const Json& schema, const std::string& path) {
    auto props = schema.find("properties");
    if (props != schema.end() && props->is_object())
      for (auto it = v.begin(); it != v.end(); ++it)
        if (auto p = props->find(it.key()); p != props->end()) check(it.value(), *p, path + "." + it.key());
    if (auto req = schema.find("required"); req != schema.end() && req->is_array())
      for (const Json& r : *req)
        if (r.is_string() && !v.contains(r.get<std::string>()))
          fail(ErrorCode::missing_parameter,
               "Parameter " + in_quotes(path) + " is missing its required field " + in_quotes(r.get<std::string>()) + ".");
  }
};

bool allows_extra(const Json& schema) {
  auto it = schema.find("additionalProperties");
  return it != schema.end() && (it->is_object() || (it->is_boolean() && it->get<bool>()));
}

std::string list_names(const Json& props) {
  std::string s;
  for (auto it = props.begin(); it != props.end(); ++it) s += (s.empty() ? "" : ", ") + it.key();
  return s.empty() ? "(none)" : s;
}

Validation run(const ParsedCall& call, const ToolSet* tools) {
  Validation v;
  auto fail = [&](ErrorCode code, std::string param, std::string message) {
    v.errors.push_back({code, std::move(param), std::move(message)});
  };
  if (!call.complete)
    fail(ErrorCode::incomplete_call, "",
         "The call to " + in_quotes(call.name) + " was cut off before </｜DSML｜invoke> and was not run. Write the complete call again.");

  pugi::xml_document doc;
  pugi::xml_node invoke = build_call_dom(call, doc);
  const std::string name = invoke.attribute("name").value();
  const Json* schema = nullptr;
  if (tools) {
    schema = tools->schema(name);
    if (!schema) {
      std::string known;
      for (const std::string& n : tools->names()) known += (known.empty() ? "" : ", ") + n;
      fail(ErrorCode::unknown_tool, "",
           "There is no tool named " + in_quotes(name) + ". Available tools: " + (known.empty() ? "(none)" : known) + ".");
    }
  }
  const Json* props = nullptr;
  if (schema && schema->is_object())
    if (auto it = schema->find("properties"); it != schema->end() && it->is_object()) props = &*it;

  std::set<std::string> seen;
  size_t index = 0;
  for (pugi::xml_node param : invoke.children("parameter")) {
    const Parameter& source = call.params[index++];
    std::string key = param.attribute("name").value();
    bool is_string = std::strcmp(param.attribute("string").value(), "false") != 0;
    const char* text = param.text().get();
    if (std::strlen(text) != source.value.size()) {  // the DOM ends values at NUL
      fail(ErrorCode::invalid_value, key, "Parameter " + in_quotes(key) + " contains a NUL byte, which tools cannot receive.");
      continue;
    }
    if (!seen.insert(key).second) {
      fail(ErrorCode::duplicate_parameter, key, "Parameter " + in_quotes(key) + " was given more than once; give each parameter once.");
      continue;
    }
    const Json* prop = nullptr;
    if (props) {
      auto it = props->find(key);
      if (it != props->end()) {
        prop = &*it;
      } else if (allows_extra(*schema)) {
        auto extra = schema->find("additionalProperties");
        if (extra->is_object()) prop = &*extra;
      } else {
        fail(ErrorCode::unknown_parameter, key,
             "Tool " + in_quotes(name) + " has no parameter " + in_quotes(key) + ". Its parameters are: " + list_names(*props) + ".");
        continue;
      }
    }
    Json value;
    if (is_string) {
      value = std::string(text, source.value.size());
    } else {
      value = Json::parse(text, text + source.value.size(), nullptr, false);
      if (value.is_discarded()) {
        std::vector<std::string> types = prop ? types_of(*prop) : std::vector<std::string>{};
        if (types.size() == 1 && types[0] == "string") {
          value = std::string(text, source.value.size());  // plain text mislabelled string="false"
        } else {
          fail(ErrorCode::invalid_json, key,
               "Parameter " + in_quotes(key) + " has string=\"false\" but its value is not valid JSON: " +
                   snippet(Json(std::string(text).substr(0, 60))) +
                   ". Write valid JSON, or use string=\"true\" for plain text.");
          continue;
        }
      } else if (prop && !value.is_string()) {
        // JSON text where a string was declared: the text itself is the string.
        std::vector<std::string> types = types_of(*prop);
        if (types.size() == 1 && types[0] == "string") value = std::string(text, source.value.size());
      }
    }
    if (prop) {
      Checker c{v.errors, key};
      c.check(value, *prop, key);
    }
    v.arguments[key] = std::move(value);
  }
  if (schema && schema->is_object())
    if (auto req = schema->find("required"); req != schema->end() && req->is_array())
      for (const Json& r : *req)
        if (r.is_string() && !seen.count(r.get<std::string>()))
          fail(ErrorCode::missing_parameter, r.get<std::string>(),
               "Missing required parameter " + in_quotes(r.get<std::string>()) + " for tool " + in_quotes(name) + ".");
  return v;
}

}  // namespace

ToolSet::ToolSet(const Json& tools) {
  if (tools.is_null()) return;
  if (!tools.is_array()) throw Error("tools must be a JSON list");
  for (size_t i = 0; i < tools.size(); ++i) {
    const Json& t = tools[i];
    const Json* fn = &t;
    if (t.is_object() && t.contains("function")) fn = &t["function"];
    if (!fn->is_object() || !fn->contains("name") || !(*fn)["name"].is_string())
      throw Error("tool " + std::to_string(i) + " has no function name");
    std::string name = (*fn)["name"].get<std::string>();
    Json params = fn->value("parameters", Json::object());
    if (!by_name_.count(name)) order_.push_back(name);
    by_name_[name] = std::move(params);
  }
}

const Json* ToolSet::schema(std::string_view name) const {
  auto it = by_name_.find(std::string(name));
  return it == by_name_.end() ? nullptr : &it->second;
}

std::vector<std::string> ToolSet::names() const { return order_; }

Validation validate(const ParsedCall& call, const ToolSet& tools) { return run(call, &tools); }
Validation check_syntax(const ParsedCall& call) { return run(call, nullptr); }

std::string error_report(const ParsedCall& call, const Validation& v) {
  std::string s = "Tool call " + in_quotes(call.name) + " was not run:";
  for (const ValidationError& e : v.errors) s += "\n- " + e.message;
  s += "\nFix the call and try again.";
  return s;
}

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::incomplete_call: return "incomplete_call";
    case ErrorCode::unknown_tool: return "unknown_tool";
    case ErrorCode::unknown_parameter: return "unknown_parameter";
    case ErrorCode::duplicate_parameter: return "duplicate_parameter";
    case ErrorCode::missing_parameter: return "missing_parameter";
    case ErrorCode::invalid_json: return "invalid_json";
    case ErrorCode::type_mismatch: return "type_mismatch";
    case ErrorCode::enum_mismatch: return "enum_mismatch";
    case ErrorCode::invalid_value: return "invalid_value";
  }
  return "unknown";
}

}  // namespace whalebox::dsml
