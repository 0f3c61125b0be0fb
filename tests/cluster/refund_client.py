"""Scenario refund-confirmation: a tool's request for input, answered through nginx, reaches
the replica running the call.

billing's refund_invoice asks the user to confirm (elicitation) when the client can show a
form. The official Python SDK (`mcp` from PyPI), given an elicitation callback, calls it through
nginx in both eras:

- 2025-11-25 (handshake, session in Redis): the call's POST stays open on one replica as an SSE
  stream carrying `elicitation/create`; the SDK answers with a new POST, which nginx's round
  robin sends to the other replica; that replica relays the answer through Redis pub/sub to the
  one running the call. Confirmed: the refund happens; declined: nothing changes.
- 2026-07-28: the call ends with an InputRequiredResult and the SDK retries it with the answer,
  on whichever replica.

    PYTHONPATH=../lib python refund_client.py --url http://127.0.0.1:NGINX/mcp --token TOKEN
"""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio
import mcp_types as types
from mcp import Client
from mcp_client import Recorder, Transcript, connect, run_modes, text_of, url_and_token

T = Transcript("refund-confirmation")
SCENARIO_TIMEOUT = 90.0
INVOICE = "INV-2042"
AMOUNT = 100


class Answers:
    """The elicitation callback: answers `confirm` as told, and keeps the questions."""

    def __init__(self) -> None:
        self.confirm = True
        self.questions: list[str] = []

    async def __call__(self, context: Any, params: Any) -> types.ElicitResult:
        self.questions.append(params.message)
        T.step(f"the SDK shows the form {params.message!r}; the user answers confirm={self.confirm}")
        return types.ElicitResult(action="accept", content={"confirm": self.confirm})


async def refunded(client: Client) -> int:
    result = await client.call_tool("lookup_invoice", {"invoice_id": INVOICE})
    assert not result.is_error, text_of(result)
    return json.loads(text_of(result))["refunded_cents"]


async def run_era(url: str, token: str, mode: str) -> None:
    recorder = Recorder(T, replicas=True)
    answers = Answers()
    async with connect(url, token, mode, recorder, elicitation_callback=answers) as client:
        before = await refunded(client)
        args = {"invoice_id": INVOICE, "amount_cents": AMOUNT}

        answers.confirm = False
        result = await client.call_tool("refund_invoice", args)
        assert result.is_error and "not confirmed" in text_of(result), text_of(result)
        assert await refunded(client) == before, "a declined refund changed the invoice"
        T.step(f"declined: tool error {text_of(result)!r}; refunded_cents still {before}")

        answers.confirm = True
        result = await client.call_tool("refund_invoice", args)
        assert not result.is_error, text_of(result)
        after = await refunded(client)
        assert after == before + AMOUNT, f"refunded_cents {before} -> {after}"
        T.step(f"confirmed: refunded_cents {before} -> {after}")
    assert answers.questions == [f"Refund {AMOUNT} cents of {INVOICE}?"] * 2, answers.questions
    if mode == "legacy":
        # Each refund: the call's POST, then the POST carrying the answer.
        exchanges = [e for e in recorder.exchanges if e["method"] == "POST"]
        crossings = 0
        for i, e in enumerate(exchanges):
            if e["what"].startswith("tools/call refund_invoice"):
                answer = next(x for x in exchanges[i + 1 :] if x["what"].startswith("response to"))
                crossed = answer["replica"] != e["replica"]
                crossings += crossed
                T.step(
                    f"refund call on replica {e['replica']}, its answer posted to replica "
                    f"{answer['replica']}{' (relayed through Redis)' if crossed else ''}"
                )
        assert crossings > 0, "no answer crossed replicas: nothing shows the relay"
    failed = [e for e in recorder.exchanges if e["status"] >= 400 and e["method"] != "GET"]
    assert not failed, f"failed exchanges: {failed}"


async def main() -> int:
    args = url_and_token()
    T.line(f"refund_invoice with the Python SDK's elicitation callback, through nginx: {args.url}")
    return await run_modes(
        T, ("legacy", "2026-07-28"), lambda mode: run_era(args.url, args.token, mode), SCENARIO_TIMEOUT
    )


if __name__ == "__main__":
    sys.exit(anyio.run(main))
