"""Who is this browser, and is it the teacher? Owner cookie, permissions, teacher mode.

The rules are aevae_core.jobs.classroom's; this is the Streamlit glue:

* ``owner()``: the owner id of this browser. Its random token lives in the ``aevae_owner``
  cookie (set once by a line of JavaScript, sent back with every later page load, so a
  refresh keeps it); the id is an HMAC of the token with the server's secret, so the id
  shown on a page cannot be turned into a cookie. Never in the URL.
* ``is_teacher()``: the password (``AEVAE_TEACHER_PASSWORD``, else ``teacher_password`` in
  Streamlit secrets) was entered in the sidebar during this session. Compared in constant
  time; the form clears it and nothing logs it. No password configured: no teacher mode.
* ``privileged(run)``: whether this session may stop, resume or delete any run it likes;
  runs of the CLI or from before owners were recorded (owner ``cli``/``local``) are open
  to everyone while no teacher password is set (one person's laptop), else the teacher's.
"""

from __future__ import annotations

import os
from typing import Any

import streamlit as st

from aevae_core.jobs import classroom
from aevae_core.store.record import Run
from pages.ui.common import store

COOKIE = "aevae_owner"
TOKEN_KEY, OWNER_KEY, TEACHER_KEY = "_aevae_owner_token", "_aevae_owner", "_aevae_teacher"
LOCAL_RUN = (
    "Started on the server (command line, or before owners were recorded): only the teacher "
    "can stop, resume or delete it."
)


@st.cache_resource(show_spinner=False)
def _secret(root: str) -> bytes:
    return classroom.server_secret(root)


def owner() -> str:
    """This browser's owner id (made on its first visit, kept by its cookie)."""
    token = st.session_state.get(TOKEN_KEY)
    if token is None:
        cookie = st.context.cookies.get(COOKIE)
        token = cookie if classroom.is_token(cookie) else classroom.new_token()
        st.session_state[TOKEN_KEY] = token
    cached = st.session_state.get(OWNER_KEY)
    if cached is None or cached[0] != token:  # an HMAC per session, not per rerun
        cached = (token, classroom.owner_from_token(token, _secret(str(store().root))))
        st.session_state[OWNER_KEY] = cached
    return cached[1]


def keep_owner_cookie() -> None:
    """Write the token into the browser's cookie until the browser sends it back."""
    owner()
    token = st.session_state[TOKEN_KEY]
    if st.context.cookies.get(COOKIE) != token:
        # SameSite=Strict: never sent by another site's page; a year, so a class keeps it.
        st.html(
            f'<script>document.cookie = "{COOKIE}={token}; path=/; max-age=31536000; '
            f'samesite=strict";</script>',
            unsafe_allow_javascript=True,
        )


def teacher_password() -> str | None:
    env = os.environ.get("AEVAE_TEACHER_PASSWORD")
    if env:
        return env
    return _secrets_password()


# st.secrets looks for its files on every access (~4 ms of each rerun, profiled): read it
# once a minute per server instead.
@st.cache_resource(show_spinner=False, ttl=60)
def _secrets_password() -> str | None:
    try:
        value = st.secrets.get("teacher_password")
    except Exception:  # no secrets.toml: no teacher mode
        return None
    return str(value) if value else None


def is_teacher() -> bool:
    return bool(st.session_state.get(TEACHER_KEY)) and teacher_password() is not None


def refusal(run: Run) -> str | None:
    """Why this session may not stop, resume or delete ``run``; None when it may."""
    if is_teacher():
        return None
    if run["owner"] in classroom.TRUSTED_OWNERS:
        return LOCAL_RUN if teacher_password() is not None else None
    return classroom.control_refusal(run, owner())


def control(run: Run) -> dict[str, Any]:
    """Keyword arguments for manager().cancel/resume/delete: the core checks them again."""
    return {"by": owner(), "teacher": refusal(run) is None}


def owner_label(run_owner: str) -> str:
    return "you" if run_owner == owner() else run_owner


def teacher_sidebar() -> None:
    """The sidebar's teacher box: unlock with the password, or lock again."""
    expected = teacher_password()
    if expected is None:
        return
    if is_teacher():
        st.caption("**Teacher mode** · every run's controls, the class view on **Runs**")
        if st.button("Leave teacher mode", key="teacher_lock"):
            st.session_state.pop(TEACHER_KEY, None)
            st.rerun()
        return
    with st.expander("Teacher"), st.form("teacher_form", clear_on_submit=True, border=False):
        given = st.text_input("Teacher password", type="password", key="teacher_password")
        if st.form_submit_button("Unlock"):
            if classroom.password_matches(given, expected):
                st.session_state[TEACHER_KEY] = True
                st.rerun()
            st.error("Wrong password.")
