"""Validate many cloud-config files in one interpreter (one `cloud-init schema --config-file` each is
~0.5 s of start-up). Same calls as `cloud-init schema` makes; prints one JSON object per input file:
{"file", "valid", "message", "writeFiles"} where writeFiles is PyYAML's reading of write_files."""
import contextlib
import io
import json
import sys

import yaml
from cloudinit.config.schema import SchemaValidationError, get_schema, validate_cloudconfig_file

schema = get_schema()
results = []
for path in sys.argv[1:]:
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            validate_cloudconfig_file(path, schema, False)
        valid, message = True, f"{captured.getvalue()}Valid cloud-config: {path}"
    except (SchemaValidationError, RuntimeError) as error:
        valid, message = False, f"{captured.getvalue()}{error}"
    with open(path, encoding="utf-8") as handle:
        document = yaml.safe_load(handle)
    write_files = document.get("write_files") if isinstance(document, dict) else None
    results.append({"file": path, "valid": valid, "message": message, "writeFiles": write_files})
json.dump(results, sys.stdout)
