"""aegis/reference.py: docs/components.md is what the code generates (the reference cannot drift), and it says what
each component is and takes."""
from pathlib import Path

from aegis import plugins
from aegis.reference import REFERENCE_FILE, component_reference

REPO = Path(__file__).resolve().parents[2]


def test_the_checked_in_reference_is_what_the_code_generates():
    generated = component_reference(plugins.load())
    checked_in = (REPO / REFERENCE_FILE).read_text()
    assert checked_in == generated, (f"{REFERENCE_FILE} is out of date: run "
                                     f"`aegis plugins --markdown > {REFERENCE_FILE}` and commit it")


def test_the_reference_lists_every_builtin_component_with_its_arguments():
    plugin_set = plugins.load()
    text = component_reference(plugin_set)
    builtin = [i for i in plugin_set.components.values() if i.distribution == "aegis"]
    assert all(f"\n### {info.name}\n" in text for info in builtin)
    assert "toy" not in text.lower()  # test-only components registered by other tests stay out
    section = text[text.index("### VJEPAEncoder"):text.index("###", text.index("### VJEPAEncoder") + 4)]
    assert "Turn a video clip into patch tokens with a V-JEPA ViT." in section
    assert "| `checkpoint_key` |" in section and "| `frozen` | `bool` |" in section
