"""DeepSeek-V4 chat encoding (spec dsml.md §2-§7) and the strict completion parser (§9.1).

Written from the spec; checked byte for byte against the official test vectors and, when it is
built, against `whalebox dsml render`."""

import copy
import json

BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"
USER = "<｜User｜>"
ASSISTANT = "<｜Assistant｜>"
THINK = "<think>"
END_THINK = "</think>"
DSML = "｜DSML｜"
LATEST_REMINDER = "<｜latest_reminder｜>"
TASK_TOKENS = {"action": "<｜action｜>", "query": "<｜query｜>", "authority": "<｜authority｜>",
               "domain": "<｜domain｜>", "title": "<｜title｜>", "read_url": "<｜read_url｜>"}
SPECIAL_TOKENS = [BOS, EOS, "<｜▁pad▁｜>", USER, ASSISTANT, THINK, END_THINK, DSML, LATEST_REMINDER,
                  *TASK_TOKENS.values(), "<｜extracted_url｜>"]

MAX_EFFORT_PREFIX = (
    "Reasoning Effort: Absolute maximum with no shortcuts permitted.\n"
    "You MUST be very thorough in your thinking and comprehensively decompose the problem to resolve "
    "the root cause, rigorously stress-testing your logic against all potential paths, edge cases, and "
    "adversarial scenarios.\n"
    "Explicitly write out your entire deliberation process, documenting every intermediate step, "
    "considered alternative, and rejected hypothesis to ensure absolutely no assumption is left "
    "unchecked.\n\n")

TOOLS_TEMPLATE = """## Tools

You have access to a set of tools to help answer the user's question. You can invoke tools by writing a "<｜DSML｜tool_calls>" block like the following:

<｜DSML｜tool_calls>
<｜DSML｜invoke name="$TOOL_NAME">
<｜DSML｜parameter name="$PARAMETER_NAME" string="true|false">$PARAMETER_VALUE</｜DSML｜parameter>
...
</｜DSML｜invoke>
<｜DSML｜invoke name="$TOOL_NAME2">
...
</｜DSML｜invoke>
</｜DSML｜tool_calls>

String parameters should be specified as is and set `string="true"`. For all other types (numbers, booleans, arrays, objects), pass the value in JSON format and set `string="false"`.

If thinking_mode is enabled (triggered by <think>), you MUST output your complete reasoning inside <think>...</think> BEFORE any tool calls or final response.

Otherwise, output directly after </think> with tool calls or final response.

### Available Tool Schemas

{schemas}

You MUST strictly follow the above defined tool name and parameter schemas to invoke tool calls.
"""


def dumps(v):
    return json.dumps(v, ensure_ascii=False)


def tools_block(tools):
    schemas = "\n".join(dumps(t["function"] if "function" in t else t) for t in tools)
    return TOOLS_TEMPLATE.replace("{schemas}", schemas)


def dsml_param(name, value, is_string):
    return f'<{DSML}parameter name="{name}" string="{"true" if is_string else "false"}">{value}</{DSML}parameter>'


def dsml_calls(tool_calls):
    invokes = []
    for call in tool_calls:
        fn = call.get("function", call)
        args = fn.get("arguments", "{}")
        params = []
        if isinstance(args, dict):                 # the reference's "arguments nesting" quirk
            params.append(dsml_param("arguments", dumps(args), False))
        else:
            try:
                parsed = json.loads(args)
            except (json.JSONDecodeError, TypeError):
                parsed = None
                params.append(dsml_param("arguments", args, True))
            if parsed is not None:
                if not isinstance(parsed, dict):
                    raise ValueError(f"tool call arguments must be a JSON object, got {args!r}")
                for k, v in parsed.items():
                    params.append(dsml_param(k, v if isinstance(v, str) else dumps(v), isinstance(v, str)))
        invokes.append(f'<{DSML}invoke name="{fn["name"]}">\n' + "\n".join(params) + f"\n</{DSML}invoke>")
    return f"\n\n<{DSML}tool_calls>\n" + "\n".join(invokes) + f"\n</{DSML}tool_calls>"


def merge_tool_messages(messages):
    """Tool results (and a plain user message right after them) become one user turn of
    content blocks, sorted into the order of the preceding assistant's calls."""
    out, call_order = [], {}
    for msg in messages:
        role = msg.get("role")
        if role == "assistant":
            call_order = {c.get("id"): i for i, c in enumerate(msg.get("tool_calls") or [])}
        if role == "tool":
            block = {"type": "tool_result", "tool_use_id": msg.get("tool_call_id"), "content": msg.get("content", "")}
            if out and out[-1].get("role") == "user" and out[-1].get("_tool_turn"):
                out[-1]["content_blocks"].append(block)
            else:
                out.append({"role": "user", "_tool_turn": True, "_order": call_order, "content_blocks": [block]})
            continue
        if role == "user":
            text = {"type": "text", "text": msg.get("content", "")}
            if out and out[-1].get("_tool_turn") and not msg.get("task"):
                out[-1]["content_blocks"].append(text)
                out[-1]["_tool_turn"] = False
                continue
            merged = dict(msg)
            merged["content_blocks"] = [text]
            out.append(merged)
            continue
        out.append(dict(msg))
    for msg in out:
        if "_order" in msg:
            order = msg.pop("_order")
            results = [b for b in msg["content_blocks"] if b["type"] == "tool_result"]
            others = [b for b in msg["content_blocks"] if b["type"] != "tool_result"]
            results.sort(key=lambda b: order.get(b["tool_use_id"], 0))
            msg["content_blocks"] = results + others
        msg.pop("_tool_turn", None)
    return out


def render_block(block):
    if block["type"] == "text":
        return block["text"]
    content = block["content"]
    if isinstance(content, list):
        content = "\n\n".join(p["text"] if p.get("type") == "text" else f"[Unsupported {p.get('type')}]"
                              for p in content)
    return f"<tool_result>{content}</tool_result>"


def with_tools_and_format(text, msg):
    if msg.get("tools"):
        text += "\n\n" + tools_block(msg["tools"])
    if msg.get("response_format"):
        text += ("\n\n## Response Format:\n\nYou MUST strictly adhere to the following schema to reply:\n"
                 + dumps(msg["response_format"]))
    return text


def encode_messages(messages, thinking_mode="thinking", context=None, drop_thinking=True,
                    add_default_bos_token=True, reasoning_effort=None):
    if thinking_mode not in ("thinking", "chat"):
        raise ValueError(f"thinking_mode must be 'thinking' or 'chat', got {thinking_mode!r}")
    thinking = thinking_mode == "thinking"
    msgs = merge_tool_messages(copy.deepcopy(messages))
    if any(m.get("tools") for m in msgs):
        drop_thinking = False
    last_user = max((i for i, m in enumerate(msgs) if m.get("role") in ("user", "developer")), default=-1)
    if thinking and drop_thinking:
        msgs = [m for i, m in enumerate(msgs) if not (m.get("role") == "developer" and i < last_user)]
        last_user = max((i for i, m in enumerate(msgs) if m.get("role") in ("user", "developer")), default=-1)
    keep = lambda i: not drop_thinking or i > last_user

    out = []
    if context is None:
        if add_default_bos_token:
            out.append(BOS)
        if reasoning_effort == "max" and thinking:
            out.append(MAX_EFFORT_PREFIX)
    else:
        out.append(context)
    for i, msg in enumerate(msgs):
        role = msg.get("role")
        if role == "system":
            out.append(with_tools_and_format(msg.get("content") or "", msg))
        elif role == "developer":
            out.append(USER + with_tools_and_format(msg.get("content") or "", msg))
        elif role == "user":
            blocks = msg.get("content_blocks")
            out.append(USER + ("\n\n".join(render_block(b) for b in blocks) if blocks else msg.get("content", "")))
        elif role == "latest_reminder":
            out.append(LATEST_REMINDER + msg.get("content", ""))
        elif role == "assistant":
            prev_task = i > 0 and msgs[i - 1].get("task")
            if thinking and keep(i) and not prev_task:
                out.append((msg.get("reasoning_content") or "") + END_THINK)
            out.append(msg.get("content") or "")
            if msg.get("tool_calls"):
                out.append(dsml_calls(msg["tool_calls"]))
            if not msg.get("wo_eos"):
                out.append(EOS)
        else:
            raise ValueError(f"unknown message role {role!r}")
        nxt = msgs[i + 1].get("role") if i + 1 < len(msgs) else None
        if i + 1 == len(msgs) or nxt in ("assistant", "latest_reminder"):
            task = msg.get("task")
            if task:
                if task not in TASK_TOKENS:
                    raise ValueError(f"unknown task {task!r}")
                out.append(ASSISTANT + (THINK if thinking else END_THINK) + TASK_TOKENS[task]
                           if task == "action" else TASK_TOKENS[task])
            elif role in ("user", "developer"):
                out.append(ASSISTANT + (THINK if thinking and (not drop_thinking or i >= last_user) else END_THINK))
    return "".join(out)


# --- parsing -----------------------------------------------------------------------------------

class ParseError(ValueError):
    pass


TOOL_START = f"\n\n<{DSML}tool_calls"


def _expect(text, pos, literal):
    if not text.startswith(literal, pos):
        raise ParseError(f"expected {literal!r} at offset {pos}, found {text[pos:pos + 30]!r}")
    return pos + len(literal)


def _until(text, pos, literal):
    end = text.find(literal, pos)
    if end < 0:
        raise ParseError(f"missing {literal!r} after offset {pos}")
    return text[pos:end], end


def parse_completion(text, thinking_mode="thinking"):
    """Strict parse of a generated assistant turn (text after the prompt, ending in EOS).
    Returns {"reasoning_content", "content", "tool_calls": [{"name", "arguments"}]} where arguments
    is the reconstructed JSON-object string; raises ParseError on any deviation."""
    reasoning = ""
    if thinking_mode == "thinking":
        end = text.find(END_THINK)
        tool = text.find(TOOL_START)
        if end < 0:
            raise ParseError("reasoning not closed by </think>")
        if 0 <= tool < end:
            raise ParseError("tool calls before </think>")
        reasoning, text = text[:end], text[end + len(END_THINK):]
    eos, tool = text.find(EOS), text.find(TOOL_START)
    if eos < 0:
        raise ParseError("completion does not end with EOS")
    calls = []
    if 0 <= tool < eos:
        content = text[:tool]
        pos = tool + len(TOOL_START)
        pos = _expect(text, pos, ">\n")
        while True:
            if text.startswith(f"</{DSML}tool_calls>", pos):
                pos += len(f"</{DSML}tool_calls>")
                break
            pos = _expect(text, pos, f"<{DSML}invoke name=\"")
            name, pos = _until(text, pos, '"')
            pos = _expect(text, pos, '">\n')
            if text.startswith("\n", pos):          # zero parameters
                pos += 1
            args = []
            while text.startswith(f"<{DSML}parameter name=\"", pos):
                pos += len(f"<{DSML}parameter name=\"")
                key, pos = _until(text, pos, '"')
                pos = _expect(text, pos, '" string="')
                kind, pos = _until(text, pos, '"')
                if kind not in ("true", "false"):
                    raise ParseError(f"string attribute must be true or false, got {kind!r}")
                pos = _expect(text, pos, '">')
                value, pos = _until(text, pos, f"</{DSML}parameter>")
                pos += len(f"</{DSML}parameter>")
                if any(k == key for k, _ in args):
                    raise ParseError(f"duplicate parameter {key!r}")
                args.append((key, dumps(value) if kind == "true" else value))
                pos = _expect(text, pos, "\n")
            pos = _expect(text, pos, f"</{DSML}invoke>")
            pos = _expect(text, pos, "\n")
            calls.append({"name": name, "arguments": "{" + ", ".join(f"{dumps(k)}: {v}" for k, v in args) + "}"})
        if text[pos:] != EOS:
            raise ParseError(f"unexpected text after the tool calls: {text[pos:pos + 40]!r}")
    else:
        content = text[:eos]
        if text[eos:] != EOS:
            raise ParseError(f"unexpected text after EOS: {text[eos + len(EOS):][:40]!r}")
    for special in (BOS, EOS, THINK, END_THINK, DSML):
        if special in reasoning or special in content:
            raise ParseError(f"special token {special!r} inside reasoning or content")
    return {"reasoning_content": reasoning, "content": content, "tool_calls": calls}
