"""Core's fallback tool-call parser, reached through the gencomp_extract_tool_calls hook."""

from __future__ import annotations

from gencomp import hookimpl, plugins
from gencomp._defaults import scan_json_tool_calls


def add(a: int, b: int) -> int:
    return a + b


TOOLS = {"add": add}


def test_scanner_finds_a_call_inside_surrounding_text_and_calls_it():
    calls = scan_json_tool_calls(TOOLS, 'Sure! <tool_call>{"name": "add", "arguments": {"a": 2, "b": 3}}</tool_call>')
    assert list(calls) == ["add"]
    assert calls["add"].call_func() == 5


def test_scanner_accepts_parameters_nested_function_objects_and_string_arguments():
    calls = scan_json_tool_calls(TOOLS, '{"name": "add", "parameters": {"a": 1, "b": 1}}')
    assert calls["add"].args == {"a": 1, "b": 1}
    nested = '[{"type": "function", "function": {"name": "add", "arguments": "{\\"a\\": 4, \\"b\\": 5}"}}]'
    assert scan_json_tool_calls(TOOLS, nested)["add"].call_func() == 9


def test_scanner_reads_arguments_given_under_args():
    call = scan_json_tool_calls(TOOLS, '{"name": "add", "args": {"a": 6, "b": 7}}')["add"]
    assert call.args == {"a": 6, "b": 7}
    assert call.call_func() == 13


def test_scanner_drops_invented_arguments_so_the_call_does_not_raise():
    def now() -> str:
        return "noon"

    calls = scan_json_tool_calls({"now": now, **TOOLS}, '{"name": "now", "arguments": {"tz": "UTC"}}')
    assert calls["now"].args == {}
    assert calls["now"].call_func() == "noon"
    extra = scan_json_tool_calls(TOOLS, '{"name": "add", "arguments": {"a": 1, "b": 2, "c": 3}}')["add"]
    assert extra.args == {"a": 1, "b": 2}


def test_scanner_keeps_every_argument_for_a_tool_taking_keyword_arguments():
    def record(**fields: str) -> dict[str, str]:
        return fields

    call = scan_json_tool_calls({"record": record}, '{"name": "record", "arguments": {"x": "1"}}')["record"]
    assert call.call_func() == {"x": "1"}


def test_scanner_ignores_unknown_tools_and_broken_json():
    assert scan_json_tool_calls(TOOLS, '{"name": "rm", "arguments": {}} {"name": "add", "arguments": {') == {}


def test_a_plugin_parser_overrides_the_core_fallback():
    class Parser:
        @hookimpl
        def gencomp_extract_tool_calls(self, tools, text):
            return {} if "NOCALL" in text else None

    parser = Parser()
    plugins.register_plugin(parser, name="test-parser")
    try:
        relay = plugins.hook()
        text = 'NOCALL {"name": "add", "arguments": {"a": 1, "b": 2}}'
        assert relay.gencomp_extract_tool_calls(backend=None, tools=TOOLS, text=text) == {}
        found = relay.gencomp_extract_tool_calls(backend=None, tools=TOOLS, text=text.replace("NOCALL", ""))
        assert found["add"].call_func() == 3
    finally:
        plugins.unregister_plugin(parser)
