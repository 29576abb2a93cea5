"""The server's Streamlit settings that the first minute depends on (.streamlit/config.toml).

Streamlit's ``runner.postScriptGC`` (on by default) runs a full ``gc.collect()`` after every
script run, fragment refreshes included: about 100 ms each in the app's server, 73% of its
GIL time while a live panel refreshed twice a second (py-spy, issue 13), which slowed every
other session's render and the workers beside it.
"""

from __future__ import annotations

import subprocess
import sys

from app_helpers import REPO


def test_the_server_skips_the_full_garbage_collection_after_each_script_run():
    code = "from streamlit import config; print(config.get_option('runner.postScriptGC'))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "False"
