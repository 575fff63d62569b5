from __future__ import annotations

from typing import Any

import strawberry

from app.accounts import partners, service
from app.accounts.types import (
    ChangePasswordInput,
    ChangePasswordPayload,
    Consents,
    ConsentsInput,
    CreatePartnerClientInput,
    CreatePartnerClientPayload,
    PartnerClient,
    PartnerClientPayload,
    RefreshSessionPayload,
    RotatePartnerClientSecretPayload,
    Session,
    SignInInput,
    SignInPayload,
    SignOutDevicePayload,
    SignOutPayload,
    SignUpInput,
    SignUpPayload,
    UpdateConsentsPayload,
    UpdateProfileInput,
    UpdateProfilePayload,
)
from app.core.errors import NotFound
from app.core.ids import decode_id
from app.graphql.context import Info
from app.graphql.errors import returns_user_errors
from app.graphql.permissions import IsAdmin, IsCustomer, IsSignedInUser


def _client(info: Info) -> service.Client:
    return service.Client(
        address=info.context.client_address,
        user_agent=info.context.request.headers.get("user-agent"),
    )


def _given(**values: Any) -> dict[str, Any]:
    """The optional input fields the client sent (an explicit null included)."""
    return {name: value for name, value in values.items() if value is not strawberry.UNSET}


def _partner_client_pk(id: strawberry.ID) -> int:
    try:
        return decode_id(id, "PartnerClient")
    except NotFound:
        raise NotFound("No partner client has this id.", field=["id"]) from None


@strawberry.type
class Mutation:
    # --- Customers: signing up, in and out ---------------------------------------------

    @strawberry.mutation(description="Create a customer account and sign in at once.")
    @returns_user_errors(SignUpPayload)
    async def sign_up(self, info: Info, input: SignUpInput) -> SignUpPayload:
        consents = input.consents or ConsentsInput(personalization=False, marketing=False)
        issued = await service.sign_up(
            settings=info.context.settings,
            email=input.email,
            password=input.password,
            display_name=input.display_name,
            accept_terms=input.accept_terms,
            birth_date=input.birth_date,
            locale=input.locale,
            referral_code=input.referral_code,
            consent_personalization=consents.personalization,
            consent_marketing=consents.marketing,
            client=_client(info),
        )
        return SignUpPayload(session=Session.of(issued), device_token=issued.device_token)

    @strawberry.mutation(description="Sign in with email and password.")
    @returns_user_errors(SignInPayload)
    async def sign_in(self, info: Info, input: SignInInput) -> SignInPayload:
        issued = await service.sign_in(
            settings=info.context.settings,
            email=input.email,
            password=input.password,
            client=_client(info),
            device_token=input.device_token,
        )
        return SignInPayload(session=Session.of(issued), device_token=issued.device_token)

    @strawberry.mutation(description="New tokens for a refresh token, which stops working.")
    @returns_user_errors(RefreshSessionPayload)
    async def refresh_session(self, info: Info, refresh_token: str) -> RefreshSessionPayload:
        issued = await service.refresh_session(
            settings=info.context.settings, refresh_token=refresh_token, client=_client(info)
        )
        return RefreshSessionPayload(session=Session.of(issued))

    @strawberry.mutation(
        description="End the session of this refresh token, or with everywhere every session."
    )
    @returns_user_errors(SignOutPayload)
    async def sign_out(self, refresh_token: str, everywhere: bool | None = False) -> SignOutPayload:
        await service.sign_out(refresh_token=refresh_token, everywhere=bool(everywhere))
        return SignOutPayload()

    @strawberry.mutation(
        permission_classes=[IsCustomer],
        description="Sign out one of the customer's devices (see viewer.devices).",
    )
    @returns_user_errors(SignOutDevicePayload)
    async def sign_out_device(self, info: Info, id: strawberry.ID) -> SignOutDevicePayload:
        try:
            session_id = decode_id(id, "Device")
        except NotFound:
            raise NotFound("No such session.", field=["id"]) from None
        await service.end_session(user_id=info.context.caller.subject_id, session_id=session_id)
        return SignOutDevicePayload()

    @strawberry.mutation(
        permission_classes=[IsSignedInUser],
        description="Change the password; every other session ends.",
    )
    @returns_user_errors(ChangePasswordPayload)
    async def change_password(
        self, info: Info, input: ChangePasswordInput
    ) -> ChangePasswordPayload:
        issued = await service.change_password(
            settings=info.context.settings,
            user_id=info.context.caller.subject_id,
            current_password=input.current_password,
            new_password=input.new_password,
            client=_client(info),
        )
        return ChangePasswordPayload(session=Session.of(issued), device_token=issued.device_token)

    # --- Customers: profile and consents -----------------------------------------------

    @strawberry.mutation(permission_classes=[IsCustomer])
    @returns_user_errors(UpdateProfilePayload)
    async def update_profile(self, info: Info, input: UpdateProfileInput) -> UpdateProfilePayload:
        user = await service.update_profile(
            user_id=info.context.caller.subject_id,
            **_given(
                display_name=input.display_name,
                birth_date=input.birth_date,
                locale=input.locale,
            ),
        )
        return UpdateProfilePayload(viewer=user)

    @strawberry.mutation(permission_classes=[IsCustomer])
    @returns_user_errors(UpdateConsentsPayload)
    async def update_consents(self, info: Info, input: ConsentsInput) -> UpdateConsentsPayload:
        user = await service.update_consents(
            user_id=info.context.caller.subject_id,
            personalization=input.personalization,
            marketing=input.marketing,
        )
        return UpdateConsentsPayload(consents=Consents.of(user))

    # --- Admins: partner clients -------------------------------------------------------

    @strawberry.mutation(permission_classes=[IsAdmin])
    @returns_user_errors(CreatePartnerClientPayload)
    async def create_partner_client(
        self, input: CreatePartnerClientInput
    ) -> CreatePartnerClientPayload:
        issued = await partners.create_partner_client(
            name=input.name,
            scopes=input.scopes,
            merchant_id=partners.merchant_pk(input.merchant_id, field=["input", "merchantId"]),
        )
        return CreatePartnerClientPayload(
            client=PartnerClient.of(issued.client),
            client_id=issued.client_id,
            client_secret=issued.client_secret,
        )

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="The client can no longer get tokens; the ones it holds stop working.",
    )
    @returns_user_errors(PartnerClientPayload)
    async def disable_partner_client(self, id: strawberry.ID) -> PartnerClientPayload:
        row = await partners.disable_partner_client(client_pk=_partner_client_pk(id))
        return PartnerClientPayload(client=PartnerClient.of(row))

    @strawberry.mutation(permission_classes=[IsAdmin])
    @returns_user_errors(PartnerClientPayload)
    async def enable_partner_client(self, id: strawberry.ID) -> PartnerClientPayload:
        row = await partners.enable_partner_client(client_pk=_partner_client_pk(id))
        return PartnerClientPayload(client=PartnerClient.of(row))

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="A new secret; the old one and the tokens issued with it stop working.",
    )
    @returns_user_errors(RotatePartnerClientSecretPayload)
    async def rotate_partner_client_secret(
        self, id: strawberry.ID
    ) -> RotatePartnerClientSecretPayload:
        issued = await partners.rotate_partner_client_secret(client_pk=_partner_client_pk(id))
        return RotatePartnerClientSecretPayload(
            client=PartnerClient.of(issued.client),
            client_id=issued.client_id,
            client_secret=issued.client_secret,
        )
