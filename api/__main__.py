"""Development server: ``python -m api`` serves on settings.api_host:api_port."""

from api.app import create_app
from core.settings import get_settings


def main() -> None:
    settings = get_settings()
    create_app(settings).run(host=settings.api_host, port=settings.api_port, threaded=True)


if __name__ == "__main__":
    main()
