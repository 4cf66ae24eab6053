"""The error contract on a small app: a missing row is a 404, a deeply nested body a 400."""

from advanced_alchemy.exceptions import NotFoundError
from litestar import Litestar, get, post
from litestar.params import FromPath, JSONBody
from litestar.testing import TestClient

from litestar_alchemy_kit.errors import ErrorsConfig, ErrorsPlugin


@get("/widgets/{widget_id:int}", raises=[NotFoundError])
async def get_widget(widget_id: FromPath[int]) -> dict[str, int]:
    raise NotFoundError(f"no widget {widget_id}")


@post("/echo")
async def echo(data: JSONBody[dict[str, object]]) -> dict[str, object]:
    return data


app = Litestar([get_widget, echo], plugins=[ErrorsPlugin(ErrorsConfig(retry_after=5))])


def main() -> None:
    with TestClient(app) as client:
        missing = client.get("/widgets/7").json()
        assert (missing["status"], missing["code"]) == (404, "not_found")
        nested = client.post("/echo", content="[" * 10_000 + "]" * 10_000, headers={"content-type": "application/json"})
        assert (nested.status_code, nested.json()["code"]) == (400, "bad_request")


if __name__ == "__main__":
    main()
