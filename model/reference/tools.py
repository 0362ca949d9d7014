"""The four tools whale-tiny is trained to call, executed for real inside a working directory.
Used by the data generator (to produce real tool results) and by the evaluator."""

import json
import os
import subprocess

TOOLS = [
    {"type": "function", "function": {
        "name": "read_file", "description": "Read a text file and return its contents",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}},
    {"type": "function", "function": {
        "name": "write_file", "description": "Write text to a file, replacing it",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
                       "required": ["path", "content"]}}},
    {"type": "function", "function": {
        "name": "list_dir", "description": "List the entries of a directory",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}},
    {"type": "function", "function": {
        "name": "run_shell", "description": "Run a bash command and return its output",
        "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}},
]
TOOL_NAMES = [t["function"]["name"] for t in TOOLS]


def inside(workdir, path):
    full = os.path.realpath(os.path.join(workdir, path))
    root = os.path.realpath(workdir)
    if full != root and not full.startswith(root + os.sep):
        raise PermissionError(f"{path}: outside the working directory")
    return full


def execute(workdir, name, arguments):
    """Run one call; returns the tool result text (errors are results too, as an agent sees them)."""
    try:
        args = json.loads(arguments) if isinstance(arguments, str) else arguments
    except json.JSONDecodeError as e:
        return f"Error: arguments are not valid JSON ({e.msg})"
    if not isinstance(args, dict):
        return "Error: arguments must be an object"
    try:
        if name == "read_file":
            with open(inside(workdir, str(args["path"])), encoding="utf-8") as f:
                return f.read()
        if name == "write_file":
            content = str(args["content"])
            with open(inside(workdir, str(args["path"])), "w", encoding="utf-8") as f:
                f.write(content)
            return f"Wrote {len(content.encode())} bytes to {args['path']}"
        if name == "list_dir":
            return "\n".join(sorted(os.listdir(inside(workdir, str(args.get("path", "."))))))
        if name == "run_shell":
            p = subprocess.run(["bash", "-c", str(args["command"])], cwd=workdir, capture_output=True,
                               text=True, timeout=10)
            out = p.stdout + p.stderr
            return out if p.returncode == 0 else f"{out}[exit code {p.returncode}]"
        return f"Error: unknown tool {name}"
    except KeyError as e:
        return f"Error: missing argument {e.args[0]}"
    except FileNotFoundError:
        return f"Error: {args.get('path')}: No such file or directory"
    except (IsADirectoryError, NotADirectoryError, PermissionError, UnicodeDecodeError) as e:
        return f"Error: {e}"
    except subprocess.TimeoutExpired:
        return "Error: command timed out"
