"""The files of src/pipeline/ call one another along a graph without cycles (issue 14,
docs/architecture.md "Inside the pipeline"): a file that needs something of a file
above it takes a hook instead. This reads the sources: each file's exported functions
(defined at column 0, not static), and which other files call them.
"""
import re

from conftest_common import SOURCE_DIR

PIPELINE = SOURCE_DIR / "src" / "pipeline"
DEFINITION = re.compile(r"^(?!static\b)[A-Za-z_][\w \*]*?\b(bl_\w+)\(", re.M)


def exported(text):
    """Names of the functions @text defines (a definition's '(' line is followed by '{' before any ';')."""
    names = set()
    for match in DEFINITION.finditer(text):
        rest = text[match.end():]
        brace, semicolon = rest.find("{"), rest.find(";")
        if brace != -1 and (semicolon == -1 or brace < semicolon):
            names.add(match.group(1))
    return names


def call_graph():
    sources = {path.stem: path.read_text() for path in sorted(PIPELINE.glob("*.c"))}
    defines = {name: exported(text) for name, text in sources.items()}
    graph = {}
    for caller, text in sources.items():
        graph[caller] = sorted(callee for callee, names in defines.items()
                               if callee != caller and any(re.search(rf"\b{n}\(", text) for n in names))
    return graph


def cycle_in(graph):
    """A cycle as a list of files, or None."""
    state, path = {}, []

    def visit(node):
        state[node] = "open"
        path.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = "done"
        path.pop()
        return None

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_pipeline_files_call_each_other_without_cycles():
    graph = call_graph()
    assert "run" in graph and "batch" in graph, sorted(graph)
    cycle = cycle_in(graph)
    assert cycle is None, "a cycle among src/pipeline/*.c: " + " -> ".join(cycle)


def test_the_batch_reaches_up_only_through_its_hooks():
    graph = call_graph()
    assert set(graph["batch"]) <= {"isolate", "gate"}, graph["batch"]
    assert not any("run" in callees for name, callees in graph.items() if name != "run")


def test_the_finder_sees_a_cycle():
    assert cycle_in({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert cycle_in({"a": ["b"], "b": [], "c": ["a"]}) is None
