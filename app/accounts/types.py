"""Strawberry types of the accounts feature."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from app.accounts import partners, service
from app.accounts.loaders import invited_count_of
from app.accounts.models import PartnerClient as PartnerClientRow
from app.accounts.models import Session as SessionRow
from app.accounts.models import User
from app.core.ids import encode_id
from app.core.money import Money as MoneyValue
from app.graphql.context import Context, Info
from app.graphql.errors import UserError
from app.graphql.node import Node, node_fetcher
from app.graphql.scalars import Connection, Money

if TYPE_CHECKING:
    from app.graphql.viewer import Viewer

ViewerType = Annotated["Viewer", strawberry.lazy("app.graphql.viewer")]


@strawberry.type
class Consents:
    personalization: bool
    marketing: bool
    updated_at: datetime | None = strawberry.field(description="When a consent last changed.")

    @classmethod
    def of(cls, user: User) -> Consents:
        return cls(
            personalization=user.consent_personalization,
            marketing=user.consent_marketing,
            updated_at=user.consents_updated_at,
        )


@strawberry.type(description="The customer's own referral code and whom it brought in.")
class Referral:
    code: str = strawberry.field(description="Give this code to friends when they sign up.")
    invited_count: int = strawberry.field(description="Customers who signed up with the code.")
    earned: Money = strawberry.field(description="Referral rewards credited so far.")


@strawberry.type(description="A place where the customer is signed in (one session).")
class Device(Node):
    id: strawberry.ID
    created_at: datetime = strawberry.field(description="When this sign-in happened.")
    last_used_at: datetime = strawberry.field(description="When its tokens were last renewed.")
    user_agent: str | None
    current: bool = strawberry.field(description="Whether this is the session asking.")

    @classmethod
    def of(cls, row: SessionRow, *, current_session_id: int | None) -> Device:
        return cls(
            id=strawberry.ID(encode_id("Device", row.id)),
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            user_agent=row.user_agent,
            current=row.id == current_session_id,
        )


@node_fetcher("Device")
async def fetch_device(context: Context, pk: int) -> Device | None:
    """Only the customer (or admin) who owns the session sees it."""
    principal = context.principal
    if principal is None or principal.is_partner:
        return None
    row = await service.get_live_session(user_id=principal.subject_id, session_id=pk)
    return Device.of(row, current_session_id=principal.session_id) if row else None


@strawberry.type
class ViewerFields:
    """The signed-in customer's own profile (joined into `Viewer`)."""

    email: str
    display_name: str
    birth_date: date | None
    locale: str | None
    member_code: str = strawberry.field(
        description="Shown as a QR code at the till: stores identify the customer by it."
    )

    @strawberry.field
    def id(self, root: strawberry.Parent[User]) -> strawberry.ID:
        return strawberry.ID(encode_id("Customer", root.id))

    @strawberry.field
    def consents(self, root: strawberry.Parent[User]) -> Consents:
        return Consents.of(root)

    @strawberry.field
    async def referral(self, root: strawberry.Parent[User], info: Info) -> Referral:
        from app.program.service import get_program

        invited = await info.context.loader(invited_count_of).load(root.id)
        program = await get_program()
        return Referral(
            code=root.referral_code or "",
            invited_count=invited,
            # Referral rewards are credited by the engagement feature; none yet.
            earned=Money.of(MoneyValue.zero(program.currency_code)),
        )

    @strawberry.field(description="Where the customer is signed in, most recent first.")
    async def devices(
        self,
        root: strawberry.Parent[User],
        info: Info,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[Device]:
        page = await service.list_live_sessions(user_id=root.id, first=first, after=after)
        current = info.context.caller.session_id  # the viewer is signed in
        return Connection.of(page, [Device.of(r, current_session_id=current) for r in page.items])


# --- Sessions ----------------------------------------------------------------------------


@strawberry.type(description="Tokens of a signed-in session.")
class Session:
    access_token: str = strawberry.field(
        description="Send as `Authorization: Bearer <accessToken>`; short-lived."
    )
    refresh_token: str = strawberry.field(
        description="Exchange for new tokens with refreshSession; each works once."
    )
    access_token_expires_at: datetime
    refresh_token_expires_at: datetime
    token_type: str = "Bearer"

    @classmethod
    def of(cls, issued: service.IssuedSession) -> Session:
        return cls(
            access_token=issued.access_token,
            refresh_token=issued.refresh_token,
            access_token_expires_at=issued.access_token_expires_at,
            refresh_token_expires_at=issued.refresh_token_expires_at,
        )


@strawberry.input
class ConsentsInput:
    personalization: bool
    marketing: bool


@strawberry.input
class SignUpInput:
    email: str
    password: str
    display_name: str
    birth_date: date | None = None
    locale: str | None = None
    referral_code: str | None = None
    accept_terms: bool
    consents: ConsentsInput | None = None


@strawberry.input
class SignInInput:
    email: str
    password: str
    device_token: str | None = strawberry.field(
        default=None,
        description=(
            "The deviceToken an earlier signIn, signUp or changePassword gave this device. "
            "A known device is throttled by its own failures only: others guessing the "
            "password cannot lock it out."
        ),
    )


@strawberry.input
class UpdateProfileInput:
    display_name: str | None = strawberry.UNSET
    birth_date: date | None = strawberry.UNSET
    locale: str | None = strawberry.UNSET


@strawberry.input
class ChangePasswordInput:
    current_password: str
    new_password: str


@strawberry.type
class SignUpPayload:
    session: Session | None = None
    device_token: str | None = strawberry.field(
        default=None,
        description="Keep on this device and send with later sign-ins (SignInInput.deviceToken).",
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SignInPayload:
    session: Session | None = None
    device_token: str | None = strawberry.field(
        default=None,
        description="Keep on this device and send with later sign-ins (SignInInput.deviceToken).",
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RefreshSessionPayload:
    session: Session | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SignOutPayload:
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SignOutDevicePayload:
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ChangePasswordPayload:
    session: Session | None = strawberry.field(
        default=None, description="A new session for this device: every other one has ended."
    )
    device_token: str | None = strawberry.field(
        default=None,
        description="Keep on this device and send with later sign-ins (SignInInput.deviceToken).",
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class UpdateProfilePayload:
    viewer: ViewerType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class UpdateConsentsPayload:
    consents: Consents | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


# --- Partner clients (admin) -------------------------------------------------------------


@strawberry.type(description="A partner system's credentials (its secret is never shown).")
class PartnerClient(Node):
    id: strawberry.ID
    name: str
    client_id: str = strawberry.field(description="Sent with the secret to /oauth/token.")
    scopes: list[str]
    merchant_id: strawberry.ID | None = strawberry.field(
        description="The merchant whose stores the client acts on; null: any merchant."
    )
    created_at: datetime
    secret_rotated_at: datetime
    disabled_at: datetime | None
    last_token_at: datetime | None
    enabled: bool

    @classmethod
    def of(cls, row: PartnerClientRow) -> PartnerClient:
        return cls(
            id=strawberry.ID(encode_id("PartnerClient", row.id)),
            name=row.name,
            client_id=row.client_id,
            scopes=row.scope_list,
            merchant_id=(
                strawberry.ID(encode_id("Merchant", row.merchant_id))
                if row.merchant_id is not None
                else None
            ),
            created_at=row.created_at,
            secret_rotated_at=row.secret_rotated_at,
            disabled_at=row.disabled_at,
            last_token_at=row.last_token_at,
            enabled=row.disabled_at is None,
        )


@node_fetcher("PartnerClient")
async def fetch_partner_client(context: Context, pk: int) -> PartnerClient | None:
    """Admins only."""
    principal = context.principal
    if principal is None or not principal.is_admin:
        return None
    row = await partners.get_partner_client(pk)
    return PartnerClient.of(row) if row else None


@strawberry.input
class CreatePartnerClientInput:
    name: str
    scopes: list[str]
    merchant_id: strawberry.ID | None = None


@strawberry.type
class CreatePartnerClientPayload:
    client: PartnerClient | None = None
    client_id: str | None = None
    client_secret: str | None = strawberry.field(
        default=None, description="Shown this once: store it now."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RotatePartnerClientSecretPayload:
    client: PartnerClient | None = None
    client_id: str | None = None
    client_secret: str | None = strawberry.field(
        default=None, description="Shown this once: the old secret no longer works."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class PartnerClientPayload:
    client: PartnerClient | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
