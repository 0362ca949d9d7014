#pragma once
// Incremental parser for model output (the text after the prompt, special tokens kept): reasoning,
// content and the DSML tool-call block (spec §9.2/§9.4). Bytes may arrive split anywhere, even
// inside a marker or a UTF-8 character; the result does not depend on how they were split.
#include <algorithm>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "dsml/message.h"

namespace whalebox::dsml {

struct Parameter {
  std::string name;
  std::string value;  // exact bytes between the tags (set when the value ends)
  bool is_string = true;  // string="true": raw text; string="false": JSON text
};

struct ParsedCall {
  std::string name;
  std::vector<Parameter> params;  // in sampled order, duplicates kept (the validator reports them)
  // Decoded arguments, first occurrence of each key; a string="false" value that is not JSON is
  // kept as a string here (validate() reports it).
  Json arguments = Json::object();
  std::string raw;        // exact bytes from "<｜DSML｜invoke" to "</｜DSML｜invoke>"
  bool complete = false;  // false: cut off before its end tag; never execute it

  ToolCall to_tool_call() const;
};

struct ParseError {
  int call = -1;  // index into tool_calls, -1 for the message as a whole
  std::string message;
};

struct ParsedMessage {
  std::string reasoning_content;
  std::string content;
  std::vector<ParsedCall> tool_calls;
  std::string tool_calls_raw;  // the whole block as sampled, leading newlines included (set when it ends)
  bool incomplete = false;     // output ended inside the tool-call block
  bool eos = false;            // the end-of-sentence token was seen
  std::vector<ParseError> errors;

  // The assistant message to append to the conversation (raw bytes kept for re-rendering).
  Message to_message() const;
};

enum class EventType {
  reasoning,       // text: reasoning delta
  content,         // text: content delta
  call_started,    // call: index, text: tool name
  argument,        // call: index, text: delta of the OpenAI `arguments` JSON string
  call_finished,   // call: index (message().tool_calls[call] is final)
  block_finished,  // the </｜DSML｜tool_calls> tag was read
  error,           // text: what went wrong; call: index or -1
};

struct Event {
  EventType type;
  int call = -1;
  std::string_view text;  // valid only during the callback
};

class StreamParser {
 public:
  using Callback = std::function<void(const Event&)>;

  // In thinking mode the prompt ended with <think>, so output starts as reasoning.
  explicit StreamParser(Mode mode, Callback on_event = {});

  void feed(std::string_view bytes);
  // End of output (after EOS or on truncation). Flushes held-back bytes; a block still open
  // becomes an incomplete call.
  void finish();

  const ParsedMessage& message() const { return msg_; }
  // Moves the result out (after finish()); the parser is spent.
  ParsedMessage take_message() { return std::move(msg_); }
  bool saw_eos() const { return msg_.eos; }

 private:
  enum class Stage { reasoning, content, between, tag, value, after_block, done };

  // Bytes that grow ahead of their contents (the first `size` are used), so that appending a
  // token-sized piece is a few loads and stores instead of a std::string::append call.
  struct GrowingBytes {
    std::string bytes;
    size_t size = 0;

    std::string_view view() const { return {bytes.data(), size}; }
    [[gnu::always_inline]] void append(std::string_view s) {
      size_t n = s.size();
      if (size + n > bytes.size()) grow(n);
      char* to = bytes.data() + size;
      const char* from = s.data();
      size += n;
      // Up to 16 bytes as two fixed-size copies (overlapping when shorter): plain moves.
      if (n >= 8 && n <= 16) {
        std::memcpy(to, from, 8);
        std::memcpy(to + n - 8, from + n - 8, 8);
      } else if (n >= 4 && n < 8) {
        std::memcpy(to, from, 4);
        std::memcpy(to + n - 4, from + n - 4, 4);
      } else if (n > 0 && n < 4) {
        to[0] = from[0];
        to[n / 2] = from[n / 2];
        to[n - 1] = from[n - 1];
      } else {
        std::memcpy(to, from, n);
      }
    }
    [[gnu::noinline]] void grow(size_t n);  // room for n more bytes (at least doubles); kept out of append()
    // The contents as a string, leaving this empty.
    std::string release() {
      bytes.resize(size);
      size = 0;
      return std::move(bytes);
    }
  };

  void feed_state_machine(std::string_view bytes);
  size_t run(std::string_view d, bool at_end);
  size_t text_step(std::string_view d, size_t p, bool at_end);
  size_t between_step(std::string_view d, size_t p, bool at_end);
  size_t tag_step(std::string_view d, size_t p, bool at_end);
  size_t value_step(std::string_view d, size_t p, bool at_end);
  size_t after_step(std::string_view d, size_t p, bool at_end);
  size_t take(std::string_view d, size_t p, size_t n);  // consume, recording block bytes
  size_t open_tag(std::string_view d, size_t p, bool closing);  // consume the tag's marker
  void emit_text(std::string_view text);
  void handle_tag(std::string_view tag, bool closing);
  void start_call(std::string_view name);
  void start_param(std::string_view name, std::string_view string_attr);
  void append_value(std::string_view bytes);
  void emit_value(std::string_view bytes, bool needs_escape);
  void flush_value_raw();
  void end_param();
  void end_call(size_t raw_end);
  void end_block();
  void truncate_block();
  static void build_arguments(ParsedCall& call);
  void error(int call, std::string message);
  void emit(EventType type, int call, std::string_view text);

  Mode mode_;
  Callback on_event_;
  ParsedMessage msg_;
  Stage stage_;
  std::string buf_;  // bytes held back: a possible marker prefix, an unfinished tag or UTF-8 char
  bool in_block_ = false;
  bool tag_closing_ = false;
  bool value_open_ = false;    // a parameter value is being read
  bool discard_value_ = false; // parameter outside any invoke: read and drop
  bool value_in_raw_ = false;  // the open value's bytes are already in tool_calls_raw
  bool call_open_ = false;
  GrowingBytes block_;         // the block's bytes so far; becomes msg_.tool_calls_raw at its end
  size_t call_raw_start_ = 0;  // offset of the open call in block_
  size_t tag_raw_start_ = 0;   // offset of the tag being read in block_ (its marker)
  size_t tag_text_start_ = 0;  // ... and of its text after the marker
  bool tag_quoted_ = false;    // the tag read so far ends inside quotes
  Parameter* param_ = nullptr; // the parameter whose value is being read
  GrowingBytes value_;         // its bytes so far; moved into it when the value ends
  bool block_junk_reported_ = false;
  bool after_reported_ = false;
  bool eos_tail_reported_ = false;
  std::string scratch_;        // reused for argument deltas
};

// Whole-buffer convenience: one feed() and finish().
ParsedMessage parse_completion(std::string_view text, Mode mode);

}  // namespace whalebox::dsml
