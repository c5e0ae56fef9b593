"""Write the driver protocol's derived schemas (``op-args.json``, ``op-results.json``) from
the table of operations (``agentcomm/ops.py``) and the ``Hub`` signatures.

    python scripts/gen_schemas.py

Run it after changing an operation or its arguments; tests/test_schemas_generated.py fails
until the checked-in files match.
"""

from __future__ import annotations

from pathlib import Path

from agentcomm_conformance.protocol_schemas import generated, render

SCHEMAS = Path(__file__).resolve().parents[1] / "conformance/agentcomm_conformance/protocol/schemas"


def main() -> None:
    for name, schema in generated().items():
        path = SCHEMAS / name
        text = render(schema)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
