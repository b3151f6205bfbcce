"""``keel eval --model``: which model a run uses, without editing the environment.

``offline`` is Keel's deterministic offline model whatever the environment says. A URL
(``http://127.0.0.1:8765/v1``) is an OpenAI-compatible endpoint: its model name is the
one the endpoint lists when it lists exactly one (``keel local-model serve`` does), else
``KEEL_LLM_MODEL``. ``NAME@URL`` names both. Any other word is a model name on the
endpoint the settings already point at (OpenAI's when none).
"""

from __future__ import annotations

from typing import Any

import httpx

from keel.errors import KeelError
from keel.settings import Settings

OFFLINE = "offline"
LOCAL_API_KEY = "local"  # an endpoint on this machine takes any key
MODELS_TIMEOUT_S = 5.0


def settings_for_model(settings: Settings, spec: str | None) -> Settings:
    """``settings`` with the model ``spec`` names; unchanged when ``spec`` is None.

    Raises:
        KeelError: an empty spec, or a URL that is not http(s).
    """
    if spec is None:
        return settings
    spec = spec.strip()
    if not spec:
        raise KeelError("--model needs a value: 'offline', a model name, a URL or NAME@URL")
    if spec.lower() == OFFLINE:
        return settings.model_copy(update={"openai_api_key": None, "llm_base_url": None})
    name, at, url = spec.rpartition("@") if "://" in spec else ("", "", "")
    if not at and "://" in spec:
        url = spec
    if url:
        if not url.startswith(("http://", "https://")):
            raise KeelError(f"--model {spec!r}: the endpoint must be an http(s) URL")
        url = url.rstrip("/")
        update: dict[str, Any] = {
            "llm_base_url": url,
            "llm_model": name or listed_model(url) or settings.llm_model,
        }
        if settings.openai_api_key is None:
            from pydantic import SecretStr

            update["openai_api_key"] = SecretStr(LOCAL_API_KEY)
        return settings.model_copy(update=update)
    return settings.model_copy(update={"llm_model": spec})


def listed_model(base_url: str) -> str | None:
    """The one model an endpoint lists at ``/models``; None when it lists several, none,
    or does not answer (the name then comes from the settings)."""
    try:
        data = httpx.get(f"{base_url}/models", timeout=MODELS_TIMEOUT_S).json()
    except (httpx.HTTPError, ValueError):
        return None
    models = data.get("data") if isinstance(data, dict) else None
    if isinstance(models, list) and len(models) == 1 and isinstance(models[0], dict):
        ident = models[0].get("id")
        return str(ident) if ident else None
    return None
