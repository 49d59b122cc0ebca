"""The one error type of the dashboard's handlers."""

from ..errors import RecollectionError


class ClientError(RecollectionError):
    """A request the page can fix: shown to the user as a message, with HTTP status 400."""
