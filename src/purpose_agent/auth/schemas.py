"""Shapes of the authentication and key/user administration API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from purpose_agent.auth.principal import Role
from purpose_agent.kit.text import ONE_LINE, sent_at_most

Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), ONE_LINE, sent_at_most(200)
]
Username = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), ONE_LINE, sent_at_most(64)
]
Password = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class TokenRequest(BaseModel):
    username: Username
    password: Password


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class KeyCreate(BaseModel):
    name: Name
    role: Role = Role.user
    expires_in_days: Annotated[int, Field(ge=1, le=3650)] | None = None


class KeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    role: Role
    prefix: str
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class KeyCreated(BaseModel):
    id: uuid.UUID
    name: str
    role: Role
    prefix: str
    expires_at: datetime | None
    # Shown here once; only its digest is stored.
    key: str


class UserCreate(BaseModel):
    username: Annotated[
        str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$")
    ]
    password: Password
    role: Role = Role.user


class UserUpdate(BaseModel):
    role: Role | None = None
    disabled: bool | None = None
    password: Password | None = None


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    role: Role
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None
