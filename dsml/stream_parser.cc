// Byte-level state machine over model output (spec §9.2/§9.4). Text is scanned with memchr for
// '<' (and '\n' where newlines may open a block); only bytes that could still become a marker
// are held back between feeds, so whole-buffer and 4-byte feeds do the same work.
#include <algorithm>
#include <cstring>

#include "dsml/parser.h"
#include "dsml/tokens.h"

namespace whalebox::dsml {
namespace {

constexpr size_t kMaxTag = 4096;  // longest tag we wait for before calling it junk
constexpr size_t kTokenBytes = 16;  // feeds up to this size take the value fast path

// What a byte can mean inside a value, for the fast path's single scan.
enum : uint8_t { kNeedsEscape = 1, kMaybeMarker = 2 };
struct ValueByteTable {
  uint8_t kind[256] = {};
  constexpr ValueByteTable() {
    for (int c = 0; c < 256; ++c) kind[c] = kJsonEscape[static_cast<char>(c)] ? kNeedsEscape : 0;
    kind[static_cast<unsigned char>('<')] |= kMaybeMarker;
  }
  constexpr uint8_t operator[](unsigned char c) const { return kind[c]; }
};
constexpr ValueByteTable kValueByte;

enum class Match { none, partial, full };

// Does `d` (from p) start with `marker`, or end while still matching it?
Match match_at(std::string_view d, size_t p, std::string_view marker) {
  size_t avail = d.size() - p;
  size_t n = avail < marker.size() ? avail : marker.size();
  if (std::memcmp(d.data() + p, marker.data(), n) != 0) return Match::none;
  return n == marker.size() ? Match::full : Match::partial;
}

// Length of `s` without a trailing UTF-8 sequence that is still missing bytes.
size_t complete_utf8(std::string_view s) {
  size_t n = s.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    unsigned char c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: look further back
    size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return need > back ? n - back : n;
  }
  return n;
}

size_t find_byte(std::string_view d, size_t p, char c) {
  const void* hit = std::memchr(d.data() + p, c, d.size() - p);
  return hit ? static_cast<const char*>(hit) - d.data() : std::string_view::npos;
}

// The next '<' that may start "</｜DSML｜" or the EOS token: '<' then '/' or the first byte of
// '｜' (or '<' as the last byte seen). Other '<' (code, HTML) are value bytes.
size_t find_marker_start(std::string_view d, size_t p) {
  for (size_t at = find_byte(d, p, '<'); at != std::string_view::npos; at = find_byte(d, at + 1, '<'))
    if (at + 1 == d.size() || d[at + 1] == '/' || d[at + 1] == '\xEF') return at;
  return std::string_view::npos;
}

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// `key = "value"` inside a tag, whitespace-tolerant; the value ends at the next quote.
bool find_attr(std::string_view tag, std::string_view key, std::string_view& value) {
  for (size_t at = tag.find(key); at != std::string_view::npos; at = tag.find(key, at + 1)) {
    if (at > 0 && !is_space(tag[at - 1])) continue;
    size_t p = at + key.size();
    while (p < tag.size() && is_space(tag[p])) ++p;
    if (p >= tag.size() || tag[p] != '=') continue;
    ++p;
    while (p < tag.size() && is_space(tag[p])) ++p;
    if (p >= tag.size() || tag[p] != '"') continue;
    size_t end = tag.find('"', p + 1);
    value = tag.substr(p + 1, end == std::string_view::npos ? std::string_view::npos : end - p - 1);
    return true;
  }
  return false;
}

std::string_view tag_name(std::string_view tag) {
  size_t n = 0;
  while (n < tag.size() && !is_space(tag[n]) && tag[n] != '=') ++n;
  return tag.substr(0, n);
}

}  // namespace

StreamParser::StreamParser(Mode mode, Callback on_event)
    : mode_(mode), on_event_(std::move(on_event)),
      stage_(mode == Mode::thinking ? Stage::reasoning : Stage::content) {}

void StreamParser::emit(EventType type, int call, std::string_view text) {
  if (on_event_) on_event_(Event{type, call, text});
}

void StreamParser::error(int call, std::string message) {
  msg_.errors.push_back({call, std::move(message)});
  emit(EventType::error, call, msg_.errors.back().message);
}

void StreamParser::feed(std::string_view bytes) {
  // Token-sized pieces of a value, the bulk of a streamed call: when no marker can start in them
  // and they end on a character boundary, they are value bytes and skip the state machine.
  if (stage_ == Stage::value && buf_.empty() && !discard_value_ && !bytes.empty() && bytes.size() <= kTokenBytes) {
    unsigned kinds = 0;
#pragma GCC unroll 4
    for (char c : bytes) kinds |= kValueByte[static_cast<unsigned char>(c)];
    if ((!(kinds & kMaybeMarker) || find_marker_start(bytes, 0) == std::string_view::npos) &&
        (static_cast<unsigned char>(bytes.back()) < 0x80 || complete_utf8(bytes) == bytes.size())) {
      value_.append(bytes);
      if (on_event_) emit_value(bytes, kinds & kNeedsEscape);
      return;
    }
  }
  feed_state_machine(bytes);
}

void StreamParser::feed_state_machine(std::string_view bytes) {
  if (buf_.empty()) {  // common case: nothing held back, parse the caller's bytes in place
    size_t used = run(bytes, false);
    if (used < bytes.size()) buf_.assign(bytes.data() + used, bytes.size() - used);
    return;
  }
  buf_.append(bytes);
  size_t used = run(buf_, false);
  buf_.erase(0, used);
}

void StreamParser::finish() {
  run(buf_, true);
  buf_.clear();
  switch (stage_) {
    case Stage::reasoning:
      if (!msg_.eos) error(-1, "output ended inside the reasoning (no </think>)");
      break;
    case Stage::between:
    case Stage::tag:
    case Stage::value:
      truncate_block();
      break;
    default:
      break;
  }
}

size_t StreamParser::run(std::string_view d, bool at_end) {
  size_t p = 0;
  for (;;) {
    Stage before = stage_;
    size_t n = 0;
    switch (stage_) {
      case Stage::reasoning:
      case Stage::content: n = text_step(d, p, at_end); break;
      case Stage::between: n = between_step(d, p, at_end); break;
      case Stage::tag: n = tag_step(d, p, at_end); break;
      case Stage::value: n = value_step(d, p, at_end); break;
      case Stage::after_block: n = after_step(d, p, at_end); break;
      case Stage::done:
        if (p < d.size() && !eos_tail_reported_) {
          eos_tail_reported_ = true;
          error(-1, "text after the end-of-sentence token was dropped");
        }
        n = d.size() - p;
        break;
    }
    p += n;
    if (n == 0 && stage_ == before) return p;  // needs more bytes (or none left)
  }
}

size_t StreamParser::take(std::string_view d, size_t p, size_t n) {
  if (in_block_) block_.append(d.substr(p, n));
  return n;
}

void StreamParser::GrowingBytes::grow(size_t n) { bytes.resize(std::max(2 * bytes.size(), size + n + 64)); }

size_t StreamParser::open_tag(std::string_view d, size_t p, bool closing) {
  tag_closing_ = closing;
  tag_raw_start_ = block_.size;
  size_t n = take(d, p, closing ? kTagClose.size() : kTagOpen.size());
  tag_text_start_ = block_.size;
  tag_quoted_ = false;
  stage_ = Stage::tag;
  return n;
}

void StreamParser::emit_text(std::string_view text) {
  if (text.empty()) return;
  if (stage_ == Stage::reasoning) {
    msg_.reasoning_content.append(text);
    emit(EventType::reasoning, -1, text);
  } else {
    msg_.content.append(text);
    emit(EventType::content, -1, text);
  }
}

// Reasoning and content: plain text until </think>, EOS, or newlines* + "<｜DSML｜".
size_t StreamParser::text_step(std::string_view d, size_t p, bool at_end) {
  if (p >= d.size()) return 0;
  size_t lt = find_byte(d, p, '<');
  size_t stop = lt == std::string_view::npos ? d.size() : lt;
  size_t nl = find_byte(d.substr(0, stop), p, '\n');
  if (nl != std::string_view::npos) stop = nl;
  if (stop > p) {
    size_t len = stop - p;
    if (stop == d.size() && !at_end) len = complete_utf8(d.substr(p, len));
    emit_text(d.substr(p, len));
    return len;
  }
  if (d[p] == '\n') {
    size_t r = p;
    while (r < d.size() && d[r] == '\n') ++r;
    if (r == d.size() && !at_end) return 0;  // the newlines may still lead into a block
    if (r < d.size()) {
      Match m = match_at(d, r, kTagOpen);
      if (m == Match::full) {  // the newlines belong to the block
        in_block_ = true;
        stage_ = Stage::between;
        return 0;
      }
      if (m == Match::partial && !at_end) return 0;
    }
    emit_text(d.substr(p, r - p));
    return r - p;
  }
  // d[p] == '<'
  Match dsml = match_at(d, p, kTagOpen);
  if (dsml == Match::full) {
    in_block_ = true;
    stage_ = Stage::between;
    return 0;
  }
  Match think = match_at(d, p, kThinkEnd);
  if (think == Match::full) {
    if (stage_ == Stage::reasoning)
      stage_ = Stage::content;
    else
      error(-1, "a stray </think> in the content was dropped");
    return kThinkEnd.size();
  }
  Match eos = match_at(d, p, kEos);
  if (eos == Match::full) {
    if (stage_ == Stage::reasoning) error(-1, "output ended inside the reasoning (no </think>)");
    msg_.eos = true;
    stage_ = Stage::done;
    return kEos.size();
  }
  if (!at_end && (dsml == Match::partial || think == Match::partial || eos == Match::partial))
    return 0;
  emit_text(d.substr(p, 1));
  return 1;
}

// Inside the block, between tags: whitespace expected, anything else is reported and skipped.
size_t StreamParser::between_step(std::string_view d, size_t p, bool at_end) {
  if (p >= d.size()) return 0;
  size_t lt = find_byte(d, p, '<');
  size_t stop = lt == std::string_view::npos ? d.size() : lt;
  if (stop > p) {
    if (!block_junk_reported_ && !trim(d.substr(p, stop - p)).empty()) {
      block_junk_reported_ = true;
      error(-1, "unexpected text inside the tool-call block was ignored");
    }
    return take(d, p, stop - p);
  }
  Match close = match_at(d, p, kTagClose);
  Match open = match_at(d, p, kTagOpen);
  Match eos = match_at(d, p, kEos);
  if (close == Match::full || open == Match::full) return open_tag(d, p, close == Match::full);
  if (eos == Match::full) {  // generation stopped with the block still open
    msg_.eos = true;
    truncate_block();
    return kEos.size();
  }
  if (!at_end && (close == Match::partial || open == Match::partial || eos == Match::partial))
    return 0;
  return take(d, p, 1);
}

// Output ended (EOS or end of stream) inside the block: an open call stays incomplete.
void StreamParser::truncate_block() {
  msg_.incomplete = true;
  in_block_ = false;
  stage_ = Stage::done;
  if (value_open_) {
    flush_value_raw();
    end_param();
  }
  msg_.tool_calls_raw = block_.release();
  if (!call_open_) {
    error(-1, "output ended inside the tool-call block (no </｜DSML｜tool_calls>)");
    return;
  }
  call_open_ = false;
  int i = static_cast<int>(msg_.tool_calls.size()) - 1;
  ParsedCall& c = msg_.tool_calls.back();
  c.raw = msg_.tool_calls_raw.substr(call_raw_start_);
  build_arguments(c);
  error(i, "tool call " + std::to_string(i) + " (\"" + c.name +
               "\") was cut off before </｜DSML｜invoke>; it was not run");
}

// A tag after "<｜DSML｜" or "</｜DSML｜", up to its '>' (quotes may hide '>'; '<' always ends it).
// Its bytes go to the block as they arrive, and its text is read back from there at the end.
size_t StreamParser::tag_step(std::string_view d, size_t p, bool /*at_end: a cut-off tag is kept*/) {
  if (p >= d.size()) return 0;
  size_t budget = kMaxTag + 1 - (block_.size - tag_text_start_);  // bytes before it is over-long
  bool quoted = tag_quoted_;
  size_t i = p;
  for (; i < d.size() && i - p < budget; ++i) {
    char c = d[i];
    if (c == '<') break;
    if (c == '"') quoted = !quoted;
    else if (c == '>' && !quoted) break;
  }
  tag_quoted_ = quoted;
  size_t n = take(d, p, i - p);
  if (i - p == budget) {
    error(-1, "an over-long DSML tag was ignored");
    stage_ = Stage::between;
    return n;
  }
  if (i == d.size()) return n;  // the tag goes on in the next bytes (or was cut off: finish() truncates)
  if (d[i] == '>') n += take(d, i, 1);
  // A view into block_, which handle_tag() does not grow.
  std::string_view tag = block_.view().substr(tag_text_start_, block_.size - tag_text_start_ - (d[i] == '>'));
  handle_tag(tag, tag_closing_);
  return n;
}

void StreamParser::handle_tag(std::string_view tag, bool closing) {
  std::string_view name = tag_name(trim(tag));
  if (stage_ == Stage::tag) stage_ = Stage::between;
  if (value_open_) {  // the tag that ends a value: </｜DSML｜parameter> or, tolerated, a later one
    end_param();
    if (closing && name == "parameter") return;
  }
  if (closing) {
    if (name == "invoke") {
      if (call_open_) end_call(block_.size);
    } else if (name == "tool_calls") {
      if (call_open_) end_call(tag_raw_start_);
      end_block();
    } else if (name != "parameter") {
      error(-1, "unknown DSML closing tag </｜DSML｜" + std::string(name) + "> was ignored");
    }
    return;
  }
  if (name == "tool_calls") return;
  if (name == "invoke") {
    if (call_open_) end_call(tag_raw_start_);  // missing </｜DSML｜invoke>: the next call ends it
    std::string_view tool;
    find_attr(tag, "name", tool);
    start_call(tool);
    return;
  }
  if (name == "parameter") {
    std::string_view key, string_attr;
    find_attr(tag, "name", key);
    find_attr(tag, "string", string_attr);
    start_param(key, string_attr);
    stage_ = Stage::value;
    return;
  }
  error(-1, "unknown DSML tag <｜DSML｜" + std::string(name) + "> was ignored");
}

void StreamParser::start_call(std::string_view name) {
  call_open_ = true;
  call_raw_start_ = tag_raw_start_;
  msg_.tool_calls.emplace_back();
  msg_.tool_calls.back().name = name;
  emit(EventType::call_started, static_cast<int>(msg_.tool_calls.size()) - 1, name);
}

void StreamParser::start_param(std::string_view key, std::string_view string_attr) {
  value_open_ = true;
  discard_value_ = !call_open_;
  value_in_raw_ = false;
  if (discard_value_) {
    error(-1, "a parameter outside any invoke was ignored");
    return;
  }
  ParsedCall& c = msg_.tool_calls.back();
  Parameter& param = c.params.emplace_back();
  param_ = &param;  // stable until the next parameter
  param.name = key;
  param.is_string = string_attr != "false";
  if (string_attr != "true" && string_attr != "false")
    error(static_cast<int>(msg_.tool_calls.size()) - 1,
          "parameter \"" + param.name + "\" has no string=\"true|false\"; read as a string");
  if (on_event_) {
    scratch_.assign(c.params.size() == 1 ? "{\"" : ", \"");
    json_escape_append(key, scratch_);
    scratch_ += param.is_string ? "\": \"" : "\": ";
    emit(EventType::argument, static_cast<int>(msg_.tool_calls.size()) - 1, scratch_);
  }
}

void StreamParser::append_value(std::string_view bytes) {
  if (discard_value_ || bytes.empty()) return;
  value_.append(bytes);
  if (on_event_) emit_value(bytes, needs_json_escape(bytes));
}

// The value bytes as a delta of the OpenAI `arguments` JSON text (escaped inside a string); only
// called with a consumer.
void StreamParser::emit_value(std::string_view bytes, bool needs_escape) {
  int i = static_cast<int>(msg_.tool_calls.size()) - 1;
  if (!needs_escape || !param_->is_string) return on_event_(Event{EventType::argument, i, bytes});
  if (bytes.size() <= kTokenBytes) {  // token-sized: escaped on the stack
    char escaped[kTokenBytes * kJsonEscapeMax];
    return on_event_(Event{EventType::argument, i, {escaped, json_escape_to(bytes, escaped)}});
  }
  scratch_.clear();
  json_escape_append(bytes, scratch_);
  emit(EventType::argument, i, scratch_);
}

// Value bytes are verbatim, so instead of copying every piece into the block as it arrives,
// the finished value is copied once: at the "</｜DSML｜" that ends it, or on truncation. Output cut
// off inside that closing tag reaches both, hence the flag.
void StreamParser::flush_value_raw() {
  if (!value_open_ || discard_value_ || value_in_raw_) return;
  block_.append(value_.view());
  value_in_raw_ = true;
}

void StreamParser::end_param() {
  value_open_ = false;
  if (discard_value_) {
    discard_value_ = false;
    return;
  }
  param_->value = value_.release();
  if (msg_.tool_calls.back().params.back().is_string)
    emit(EventType::argument, static_cast<int>(msg_.tool_calls.size()) - 1, "\"");
}

void StreamParser::build_arguments(ParsedCall& c) {
  c.arguments = Json::object();
  for (const Parameter& param : c.params) {
    if (c.arguments.contains(param.name)) continue;  // duplicates: first wins
    if (param.is_string) {
      c.arguments[param.name] = param.value;
      continue;
    }
    Json v = Json::parse(param.value, nullptr, /*allow_exceptions=*/false);
    c.arguments[param.name] = v.is_discarded() ? Json(param.value) : std::move(v);
  }
}

void StreamParser::end_call(size_t raw_end) {
  call_open_ = false;
  int i = static_cast<int>(msg_.tool_calls.size()) - 1;
  ParsedCall& c = msg_.tool_calls.back();
  c.raw = block_.view().substr(call_raw_start_, raw_end - call_raw_start_);
  c.complete = true;
  build_arguments(c);
  emit(EventType::argument, i, c.params.empty() ? "{}" : "}");
  emit(EventType::call_finished, i, {});
}

void StreamParser::end_block() {
  in_block_ = false;
  msg_.tool_calls_raw = block_.release();
  stage_ = Stage::after_block;
  emit(EventType::block_finished, -1, {});
}

// A parameter value: verbatim bytes up to the next "</｜DSML｜" (or EOS: truncation).
size_t StreamParser::value_step(std::string_view d, size_t p, bool at_end) {
  if (p >= d.size()) return 0;
  size_t lt = find_marker_start(d, p);
  size_t stop = lt == std::string_view::npos ? d.size() : lt;
  if (stop > p) {
    size_t len = stop - p;
    if (stop == d.size() && !at_end) len = complete_utf8(d.substr(p, len));
    append_value(d.substr(p, len));
    return discard_value_ ? take(d, p, len) : len;
  }
  Match close = match_at(d, p, kTagClose);
  Match eos = match_at(d, p, kEos);
  if (close == Match::full) {
    flush_value_raw();
    return open_tag(d, p, true);
  }
  if (eos == Match::full) {
    msg_.eos = true;
    truncate_block();
    return kEos.size();
  }
  if (!at_end && (close == Match::partial || eos == Match::partial)) return 0;
  size_t next = find_marker_start(d, p + 1);
  size_t len = (next == std::string_view::npos ? d.size() : next) - p;
  if (next == std::string_view::npos && !at_end) len = std::max<size_t>(1, complete_utf8(d.substr(p, len)));
  append_value(d.substr(p, len));
  return discard_value_ ? take(d, p, len) : len;
}

// After </｜DSML｜tool_calls>: only EOS belongs here; other text is reported and dropped.
size_t StreamParser::after_step(std::string_view d, size_t p, bool at_end) {
  if (p >= d.size()) return 0;
  size_t lt = find_byte(d, p, '<');
  size_t stop = lt == std::string_view::npos ? d.size() : lt;
  size_t n = stop - p;
  if (n == 0) {
    Match eos = match_at(d, p, kEos);
    if (eos == Match::full) {
      msg_.eos = true;
      stage_ = Stage::done;
      return kEos.size();
    }
    if (eos == Match::partial && !at_end) return 0;
    n = 1;
  }
  if (!after_reported_ && !trim(d.substr(p, n)).empty()) {
    after_reported_ = true;
    error(-1, "text after the tool-call block was dropped");
  }
  return n;
}

ToolCall ParsedCall::to_tool_call() const {
  ToolCall c;
  c.name = name;
  c.arguments = arguments;
  c.raw = raw;
  return c;
}

Message ParsedMessage::to_message() const {
  Message m;
  m.role = "assistant";
  m.reasoning_content = reasoning_content;
  m.content = content;
  for (const ParsedCall& c : tool_calls) m.tool_calls.push_back(c.to_tool_call());
  m.tool_calls_raw = tool_calls_raw;
  return m;
}

ParsedMessage parse_completion(std::string_view text, Mode mode) {
  StreamParser parser(mode);
  parser.feed(text);
  parser.finish();
  return parser.take_message();
}

}  // namespace whalebox::dsml
