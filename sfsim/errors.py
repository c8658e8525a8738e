"""Salesforce's error shape: ``[{"message": ..., "errorCode": ..., "fields": [...]}]`` with an HTTP status."""


class SFError(Exception):
    def __init__(self, code: str, message: str, status: int = 400, fields: list[str] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.fields = fields

    def body(self) -> list[dict]:
        item: dict = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            item["fields"] = self.fields
        return [item]

    def record_error(self) -> dict:
        """The per-record form used by sObject Collections and composite results (``statusCode``)."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields or []}


def not_found(message: str = "The requested resource does not exist") -> SFError:
    return SFError("NOT_FOUND", message, 404)


def invalid_session() -> SFError:
    return SFError("INVALID_SESSION_ID", "Session expired or invalid", 401)


def insufficient_access(message: str = "insufficient access rights on object id") -> SFError:
    return SFError("INSUFFICIENT_ACCESS_OR_READONLY", message, 403)
