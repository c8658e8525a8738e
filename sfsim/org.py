"""A running org: the store plus everything the server keeps in memory (tokens, usage, faults, locators)."""

import base64
import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from . import defaults
from .bulk import Bulk
from .clock import CLOCK, format_datetime
from .permissions import Perms, load_perms
from .query import ConnectionPool
from .records import Actor, Writer
from .runtime import ApiUsage, Faults, Locators, Stats
from .setup import SCENARIOS, apply_scenario, ensure_admin
from .store import DEFAULT_SETTINGS, Store


@dataclass
class Token:
    token: str
    kind: str  # access | refresh | code
    user_id: str
    client_id: str
    scope: str
    issued: float  # org clock, epoch seconds
    revoked: bool = False
    extra: dict | None = None


class Org:
    def __init__(self, data_dir: Path, scenario: str | None = None):
        self.data_dir = Path(data_dir)
        self.store = Store(self.data_dir)
        self.clock = CLOCK
        self.usage = ApiUsage()
        self.stats = Stats()
        self.faults = Faults()
        self.locators = Locators()
        self.pool = ConnectionPool(self.store)
        self.bulk = Bulk(self)
        # Replaced, never cleared, on a set-up change: a request that loaded permissions before the change stores
        # them in the old dict, where no later request looks.
        self._perms: dict[str, Perms | None] = {}
        self._tokens: dict[str, Token] = {}
        self._tokens_lock = threading.Lock()
        for key, value in DEFAULT_SETTINGS.items():
            if self.store.setting(key) is None:
                self.store.set_setting(key, value)
        self.admin_id = ensure_admin(self.store, self.now())
        if scenario is not None or self.store.setting("scenario") is None:
            self.set_scenario(scenario or "ready")
        self.org_id = self.store.org_id()
        self._generation = self.store.generation()

    # -- time ------------------------------------------------------------------------------------------------------
    def now(self) -> str:
        return format_datetime(self.clock.now())

    # -- set-up ----------------------------------------------------------------------------------------------------
    def set_scenario(self, name: str) -> None:
        if name not in SCENARIOS:
            raise KeyError(name)
        apply_scenario(self.store, name, self.now())
        self.invalidate_perms()

    def sync(self) -> None:
        """Picks up set-up changes made since the last request, by this process or by another one writing to the
        same data directory (``python -m sfsim scenario`` beside a running server): one indexed read per request,
        and a reload of the schema and the permissions only when the generation moved."""
        generation = self.store.generation()
        if generation == self._generation and self.store.schema_generation >= generation:
            return  # (the schema lags after a rolled-back set-up change of this process)
        self.store.refresh_schema(generation)
        self.invalidate_perms()
        self._generation = generation

    def invalidate_perms(self) -> None:
        self._perms = {}

    def perms(self, user_id: str) -> Perms | None:
        cache = self._perms
        if user_id in cache:
            return cache[user_id]
        perms = cache[user_id] = load_perms(self.store.conn, user_id)
        return perms

    def api_enabled_for_org(self) -> bool:
        return bool(self.store.setting("org_api_enabled", True))

    def daily_limit(self) -> int:
        return int(self.store.setting("daily_api_requests", defaults.DAILY_API_REQUESTS))

    def session_lifetime(self) -> float:
        return float(self.store.setting("session_lifetime_seconds", defaults.SESSION_LIFETIME_SECONDS))

    def writer(self, conn, user_id: str, perms: Perms | None, modstamp: str | None = None) -> Writer:
        return Writer(self.store, conn, Actor(user_id=user_id, perms=perms, now=self.now(), modstamp=modstamp))

    # -- users -----------------------------------------------------------------------------------------------------
    def user_row(self, user_id: str) -> dict | None:
        cur = self.store.conn.execute(
            'SELECT u."Id", u."Username", u."Email", u."FirstName", u."LastName", u."Name", u."IsActive", '
            'u."UserType", u."LanguageLocaleKey", u."LocaleSidKey", u."TimeZoneSidKey", u."LastModifiedDate", '
            'p."Name" FROM "User" u LEFT JOIN "Profile" p ON p."Id" = u."ProfileId" WHERE u."Id" = ?',
            (user_id,),
        )
        row = cur.fetchone()
        if row is None:
            return None
        keys = [
            "Id",
            "Username",
            "Email",
            "FirstName",
            "LastName",
            "Name",
            "IsActive",
            "UserType",
            "LanguageLocaleKey",
            "LocaleSidKey",
            "TimeZoneSidKey",
            "LastModifiedDate",
            "ProfileName",
        ]
        return dict(zip(keys, row, strict=True))

    def find_user(self, ref: str) -> str | None:
        """A user Id from an Id or a username."""
        row = self.store.conn.execute(
            'SELECT "Id" FROM "User" WHERE "Id" = ? OR "Username" = ? COLLATE NOCASE', (ref, ref)
        ).fetchone()
        return row[0] if row else None

    def check_password(self, username: str, password: str) -> str | None:
        from .setup import hash_password

        row = self.store.conn.execute(
            'SELECT u."Id" FROM "User" u JOIN _sfsim_passwords p ON p.user_id = u."Id" '
            'WHERE u."Username" = ? COLLATE NOCASE AND p.password = ? AND u."IsActive" = 1',
            (username, hash_password(password)),
        ).fetchone()
        return row[0] if row else None

    # -- tokens ----------------------------------------------------------------------------------------------------
    def issue(self, kind: str, user_id: str, client_id: str, scope: str, extra: dict | None = None) -> Token:
        prefix = {"access": self.org_id[:15] + "!AQ", "refresh": "5Aep861", "code": "aPrx"}[kind]
        tok = Token(
            prefix + secrets.token_urlsafe(48 if kind == "access" else 40),
            kind,
            user_id,
            client_id,
            scope,
            self.clock.now().timestamp(),
            extra=extra,
        )
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO _sfsim_tokens (token, kind, user_id, client_id, scope, issued, extra) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (tok.token, kind, user_id, client_id, scope, tok.issued, json.dumps(extra)),
            )
        with self._tokens_lock:
            self._tokens[tok.token] = tok
        return tok

    def token(self, value: str, kind: str) -> Token | None:
        with self._tokens_lock:
            tok = self._tokens.get(value)
        if tok is None:
            row = self.store.conn.execute(
                "SELECT token, kind, user_id, client_id, scope, issued, revoked, extra FROM _sfsim_tokens "
                "WHERE token = ?",
                (value,),
            ).fetchone()
            if row is None:
                return None
            tok = Token(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6]), json.loads(row[7] or "null"))
            with self._tokens_lock:
                self._tokens[value] = tok
        if tok.kind != kind or tok.revoked:
            return None
        return tok

    def session_user(self, access_token: str) -> Token | None:
        tok = self.token(access_token, "access")
        if tok is None:
            return None
        if self.clock.now().timestamp() - tok.issued > self.session_lifetime():
            return None
        return tok

    def revoke(self, *, token: str | None = None, kind: str | None = None, user_id: str | None = None) -> int:
        """Revokes one token, or every token of a kind and/or user. Revoking a refresh token also ends the sessions
        it opened, as in Salesforce."""
        clauses, params = ["revoked = 0"], []
        if token is not None:
            clauses.append("token = ?")
            params.append(token)
        if kind is not None:
            clauses.append("kind = ?")
            params.append(kind)
        if user_id is not None:
            clauses.append("user_id = ?")
            params.append(user_id)
        where = " AND ".join(clauses)
        with self.store.transaction() as conn:
            victims = [r[0] for r in conn.execute(f"SELECT token FROM _sfsim_tokens WHERE {where}", params)]
            conn.execute(f"UPDATE _sfsim_tokens SET revoked = 1 WHERE {where}", params)
            if token is not None:
                conn.execute(
                    "UPDATE _sfsim_tokens SET revoked = 1 WHERE json_extract(extra, '$.refresh') = ?", (token,)
                )
        with self._tokens_lock:
            self._tokens.clear()
        return len(victims)

    def signature(self, identity_url: str, issued_at: str, client_secret: str) -> str:
        mac = hmac.new(client_secret.encode(), (identity_url + issued_at).encode(), hashlib.sha256).digest()
        return base64.b64encode(mac).decode()

    # -- housekeeping ----------------------------------------------------------------------------------------------
    def janitor(self, stop: threading.Event) -> None:
        while not stop.wait(30):
            self.locators.expire()

    def close(self) -> None:
        self.locators.close_all()
