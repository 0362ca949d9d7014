// Validation against JSON Schemas: every error kind, coercions, and the DOM it walks.
#include <gtest/gtest.h>

#include "dsml/call_dom.h"
#include "dsml/error.h"
#include "dsml/validator.h"
#include "test_util.h"

using namespace dsml_test;

namespace {

const Json kTools = Json::parse(R"([
  {"type":"function","function":{"name":"get_weather","parameters":{"type":"object",
    "properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["celsius","fahrenheit"]},
                  "days":{"type":"integer"},"detail":{"type":"boolean"},"ratio":{"type":"number"},
                  "where":{"type":"object","properties":{"lat":{"type":"number"}},"required":["lat"]},
                  "tags":{"type":"array","items":{"type":"string"}},
                  "id":{"anyOf":[{"type":"integer"},{"type":"string"}]}},
    "required":["city"]}}},
  {"name":"now"}
])");

ParsedCall make(const std::string& name, std::vector<Parameter> params, bool complete = true) {
  std::string body;
  for (const Parameter& p : params)
    body += "<｜DSML｜parameter name=\"" + p.name + "\" string=\"" + (p.is_string ? "true" : "false") + "\">" + p.value +
            "</｜DSML｜parameter>\n";
  std::string text = "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"" + name + "\">\n" + body + "</｜DSML｜invoke>\n</｜DSML｜tool_calls>";
  ParsedMessage m = parse_completion(complete ? text : text.substr(0, text.find("</｜DSML｜invoke>")), Mode::chat);
  EXPECT_EQ(m.tool_calls.size(), 1u);
  return m.tool_calls.at(0);
}

Validation check(const std::string& name, std::vector<Parameter> params) {
  return validate(make(name, std::move(params)), ToolSet(kTools));
}


}  // namespace

TEST(Validate, ValidCallPassesWithTypedArguments) {
  Validation v = check("get_weather", {{"city", "Paris", true}, {"days", "3", false}, {"tags", "[\"a\"]", false}});
  EXPECT_TRUE(v.ok()) << v.errors[0].message;
  EXPECT_EQ(python_dumps(v.arguments), R"({"city": "Paris", "days": 3, "tags": ["a"]})");
  EXPECT_TRUE(validate(make("now", {}), ToolSet(kTools)).ok());
}

TEST(Validate, UnknownTool) {
  Validation v = check("get_wether", {{"city", "Paris", true}});
  ASSERT_EQ(v.errors.size(), 1u);
  EXPECT_EQ(v.errors[0].code, ErrorCode::unknown_tool);
  EXPECT_NE(v.errors[0].message.find("get_weather, now"), std::string::npos) << v.errors[0].message;
}

TEST(Validate, UnknownDuplicateAndMissingParameters) {
  Validation v = check("get_weather", {{"town", "Paris", true}});
  ASSERT_EQ(v.errors.size(), 2u);
  EXPECT_EQ(v.errors[0].code, ErrorCode::unknown_parameter);
  EXPECT_EQ(v.errors[0].parameter, "town");
  EXPECT_NE(v.errors[0].message.find("city, unit"), std::string::npos);
  EXPECT_EQ(v.errors[1].code, ErrorCode::missing_parameter);
  EXPECT_EQ(v.errors[1].parameter, "city");

  v = check("get_weather", {{"city", "Paris", true}, {"city", "Rome", true}});
  ASSERT_EQ(v.errors.size(), 1u);
  EXPECT_EQ(v.errors[0].code, ErrorCode::duplicate_parameter);
  EXPECT_EQ(v.arguments["city"], "Paris");
}

TEST(Validate, StringFalseThatIsNotJson) {
  Validation v = check("get_weather", {{"city", "Paris", true}, {"days", "three", false}});
  ASSERT_EQ(v.errors.size(), 1u);
  EXPECT_EQ(v.errors[0].code, ErrorCode::invalid_json);
  EXPECT_NE(v.errors[0].message.find("string=\"true\""), std::string::npos);
  // Plain text for a declared string is unambiguous: taken as the string.
  v = check("get_weather", {{"city", "New York", false}});
  EXPECT_TRUE(v.ok());
  EXPECT_EQ(v.arguments["city"], "New York");
  // Schema-free checking reports it too.
  EXPECT_EQ(check_syntax(make("x", {{"a", "{oops", false}})).errors.at(0).code, ErrorCode::invalid_json);
}

TEST(Validate, TypeAndEnumMismatches) {
  Validation v = check("get_weather", {{"city", "Paris", true}, {"unit", "kelvin", true}});
  ASSERT_EQ(v.errors.size(), 1u);
  EXPECT_EQ(v.errors[0].code, ErrorCode::enum_mismatch);
  EXPECT_NE(v.errors[0].message.find("[\"celsius\", \"fahrenheit\"]"), std::string::npos) << v.errors[0].message;

  v = check("get_weather", {{"city", "Paris", true}, {"days", "2.5", false}});
  ASSERT_EQ(v.errors.size(), 1u);
  EXPECT_EQ(v.errors[0].code, ErrorCode::type_mismatch);
  EXPECT_NE(v.errors[0].message.find("\"days\" must be integer"), std::string::npos) << v.errors[0].message;

  v = check("get_weather", {{"city", "Paris", true}, {"detail", "yes", true}});
  EXPECT_EQ(v.errors.at(0).code, ErrorCode::type_mismatch);

  v = check("get_weather", {{"city", "Paris", true}, {"where", "{\"lon\": 2}", false}});
  EXPECT_EQ(v.errors.at(0).code, ErrorCode::missing_parameter);
  EXPECT_NE(v.errors[0].message.find("lat"), std::string::npos);

  v = check("get_weather", {{"city", "Paris", true}, {"tags", "[\"a\", 5]", false}});
  EXPECT_EQ(v.errors.at(0).code, ErrorCode::type_mismatch);
  EXPECT_NE(v.errors[0].message.find("tags[1]"), std::string::npos);

  v = check("get_weather", {{"city", "Paris", true}, {"id", "[1]", false}});
  EXPECT_EQ(v.errors.at(0).code, ErrorCode::type_mismatch);
}

TEST(Validate, UnambiguousCoercions) {
  Validation v = check("get_weather", {{"city", "Paris", true}, {"days", "5", true}, {"detail", "true", true},
                                       {"ratio", "0.25", true}, {"tags", "[\"x\"]", true}, {"id", "7", false}});
  EXPECT_TRUE(v.ok()) << v.errors[0].message;
  EXPECT_EQ(python_dumps(v.arguments), R"({"city": "Paris", "days": 5, "detail": true, "ratio": 0.25, "tags": ["x"], "id": 7})");
  v = check("get_weather", {{"city", "12", false}, {"days", "4.0", false}});  // JSON text for a string; 4.0 is integral
  EXPECT_TRUE(v.ok());
  EXPECT_EQ(python_dumps(v.arguments), R"({"city": "12", "days": 4})");
}

TEST(Validate, IncompleteCallsAndNulBytes) {
  Validation v = validate(make("get_weather", {{"city", "Paris", true}}, false), ToolSet(kTools));
  EXPECT_EQ(v.errors.at(0).code, ErrorCode::incomplete_call);
  ParsedCall c = make("get_weather", {{"city", "Par", true}});
  c.params[0].value += std::string(1, '\0') + "is";
  v = validate(c, ToolSet(kTools));
  EXPECT_EQ(v.errors.at(0).code, ErrorCode::invalid_value);
}

TEST(Validate, MessagesReadAsAToolResult) {
  ParsedCall c = make("get_weather", {{"unit", "K", true}});
  Validation v = validate(c, ToolSet(kTools));
  std::string report = error_report(c, v);
  EXPECT_EQ(report.rfind("Tool call \"get_weather\" was not run:", 0), 0u) << report;
  EXPECT_NE(report.find("Missing required parameter \"city\""), std::string::npos) << report;
  EXPECT_NE(report.find("must be one of"), std::string::npos) << report;
}

TEST(Validate, DomKeepsExactValues) {
  ParsedCall c = make("f", {{"v", "a<b & \"q\" &amp;", true}, {"n", "[1]", false}});
  pugi::xml_document doc;
  pugi::xml_node invoke = build_call_dom(c, doc);
  EXPECT_STREQ(invoke.name(), "invoke");
  EXPECT_STREQ(invoke.attribute("name").value(), "f");
  pugi::xml_node p = invoke.child("parameter");
  EXPECT_STREQ(p.attribute("string").value(), "true");
  EXPECT_STREQ(p.text().get(), "a<b & \"q\" &amp;");
  EXPECT_STREQ(p.next_sibling("parameter").attribute("string").value(), "false");
}

TEST(Validate, BadToolListsAreErrors) {
  EXPECT_THROW(ToolSet(Json::parse(R"({"a":1})")), Error);
  EXPECT_THROW(ToolSet(Json::parse(R"([{"function":{"description":"no name"}}])")), Error);
}
