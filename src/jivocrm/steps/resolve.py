"""Names in bundles → ids in the CRM: users, pipelines and stages, custom fields.

Bundles say ``Ольга Петрова``, ``Продажи``, ``Источник``; the CRM wants ids. Everything is
resolved through the connection's cache, so a run pays no calls for it; a name missing from the
cached copy forces one refresh before the step fails with the names that do exist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from jivocrm.core.errors import StepError
from jivocrm.core.i18n import Text
from jivocrm.steps.base import StepContext, record_word

if TYPE_CHECKING:
    from jivocrm.connectors.base import (
        Connector,
        CrmUser,
        CustomField,
        EntityKind,
        Metadata,
        Pipeline,
    )

T = TypeVar("T")


def connector(ctx: StepContext) -> Connector:
    if ctx.connector is None:
        raise StepError(Text("this step needs a `connection`"))
    return ctx.connector


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def present(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """The entries that hold something: a template reading what the chat lacks (no UTM tags)
    writes nothing rather than an empty value over the CRM's own."""
    return {k: v for k, v in (values or {}).items() if not blank(v)}


def texts(values: Any) -> list[str]:
    return [str(v).strip() for v in values or () if not blank(v)]


def same(a: Any, b: Any) -> bool:
    return str(a).strip().casefold() == str(b).strip().casefold()


async def users(ctx: StepContext, *, refresh: bool = False) -> list[CrmUser]:
    crm = connector(ctx)
    if ctx.cache is None:
        return await crm.list_users()
    return await ctx.cache.users(crm, refresh=refresh)


async def metadata(ctx: StepContext, *, refresh: bool = False) -> Metadata:
    crm = connector(ctx)
    if ctx.cache is None:
        return await crm.fetch_metadata()
    return await ctx.cache.metadata(crm, refresh=refresh)


async def _twice(
    load: Callable[[bool], Awaitable[T]], pick: Callable[[T], Any], has_cache: bool
) -> Any:
    """``pick`` on the cached copy, then once more on a fresh one when it found nothing."""
    found = pick(await load(False))
    if found is None and has_cache:
        found = pick(await load(True))
    return found


def _user_matching(value: Any, candidates: Sequence[CrmUser]) -> CrmUser | None:
    """By id first, then name, then e-mail: an id is never mistaken for someone's name."""
    wanted = str(value).strip()
    by_id = [u for u in candidates if str(u.id) == wanted]
    by_name = [u for u in candidates if same(u.name, wanted)]
    by_email = [u for u in candidates if u.email and same(u.email, wanted)]
    return next(iter(by_id + by_name + by_email), None)


async def user(ctx: StepContext, value: Any, what: str = "responsible") -> CrmUser | None:
    """A CRM user by id, name or e-mail; None for an empty value; StepError when unknown."""
    if blank(value):
        return None
    found: CrmUser | None = await _twice(
        lambda refresh: users(ctx, refresh=refresh),
        lambda listed: _user_matching(value, listed),
        ctx.cache is not None,
    )
    if found is None:
        names = ", ".join(u.name for u in await users(ctx))
        raise StepError(
            Text(
                "{what}: no CRM user {value} (by id, name or e-mail); users: {names}",
                what=what,
                value=repr(value),
                names=names,
            )
        )
    return found


async def user_id(ctx: StepContext, value: Any, what: str = "responsible") -> str | None:
    found = await user(ctx, value, what)
    return None if found is None else found.id


def _pipeline_matching(value: Any, meta: Metadata) -> Pipeline | None:
    return next((p for p in meta.pipelines if str(p.id) == str(value).strip()), None) or next(
        (p for p in meta.pipelines if same(p.name, value)), None
    )


async def pipeline_and_stage(
    ctx: StepContext, pipeline: Any, stage: Any
) -> tuple[str | None, str | None]:
    """(pipeline id, stage id) from names or ids; a stage alone is looked up in every pipeline."""
    if blank(pipeline) and blank(stage):
        return None, None
    has_cache = ctx.cache is not None

    def pick(meta: Metadata) -> tuple[str | None, str | None] | None:
        chosen = None if blank(pipeline) else _pipeline_matching(pipeline, meta)
        if not blank(pipeline) and chosen is None:
            return None
        if blank(stage):
            return (chosen.id if chosen else None, None)
        for candidate in [chosen] if chosen else list(meta.pipelines):
            for s in candidate.stages if candidate else ():
                if str(s.id) == str(stage).strip() or same(s.name, stage):
                    return candidate.id, s.id
        return None

    found = await _twice(lambda refresh: metadata(ctx, refresh=refresh), pick, has_cache)
    if found is None:
        meta = await metadata(ctx)
        listed = "; ".join(
            f"{p.name}: {', '.join(s.name for s in p.stages)}" for p in meta.pipelines
        )
        raise StepError(
            Text(
                "no pipeline {pipeline} with stage {stage}; the CRM has {listed}",
                pipeline=repr(pipeline),
                stage=repr(stage),
                listed=listed,
            )
        )
    pair: tuple[str | None, str | None] = found
    return pair


async def custom_fields(
    ctx: StepContext, entity: EntityKind, values: Mapping[str, Any] | None
) -> dict[str, Any]:
    """``{name, code or id: value}`` → ``{field id: value}``; list values map to enum ids."""
    if not values:
        return {}
    meta = await metadata(ctx)
    out: dict[str, Any] = {}
    for key, value in values.items():
        if blank(value) or value == []:
            continue  # nothing to write: the field keeps what the CRM has (UTM tags absent…)

        def pick(m: Metadata, key: str = key) -> Any:
            fields = [f for f in m.custom_fields if f.entity == entity]
            return (
                next((f for f in fields if str(f.id) == str(key)), None)
                or next((f for f in fields if f.code and same(f.code, key)), None)
                or next((f for f in fields if same(f.name, key)), None)
            )

        field = pick(meta)
        if field is None and ctx.cache is not None:
            field = pick(await metadata(ctx, refresh=True))
        if field is None:
            names = ", ".join(f.name for f in meta.custom_fields if f.entity == entity)
            raise StepError(
                Text(
                    "custom: no {entity} field {key}; the CRM has {names}",
                    entity=record_word(entity),
                    key=repr(key),
                    names=names or Text("none"),
                )
            )
        if not field.options:
            enum = field.option(value) if field.enums and not isinstance(value, list) else None
            out[field.id] = value if enum is None else _enum(ctx, enum)
            continue
        chosen = [_enum(ctx, await _option(ctx, entity, field, v)) for v in _listed(value)]
        out[field.id] = chosen if isinstance(value, list) else chosen[0]
    return out


def _enum(ctx: StepContext, enum_id: str) -> Any:
    return connector(ctx).option_value(enum_id)


def _listed(value: Any) -> list[Any]:
    return [v for v in value if not blank(v)] if isinstance(value, list) else [value]


async def _option(ctx: StepContext, entity: EntityKind, field: CustomField, value: Any) -> str:
    """The option id of a list field's value; one refresh when it is new, else a StepError."""
    found = field.option(value)
    if found is None and ctx.cache is not None:
        fresh = await metadata(ctx, refresh=True)
        field = next((f for f in fresh.custom_fields if f.id == field.id), field)
        found = field.option(value)
    if found is None:
        listed = ", ".join(text for _, text in field.options)
        raise StepError(
            Text(
                "custom: {value} is not an option of {entity} field {field}; it takes {listed}",
                value=repr(value),
                entity=record_word(entity),
                field=repr(field.name),
                listed=listed,
            )
        )
    return found


__all__ = ["blank", "connector", "custom_fields", "pipeline_and_stage", "user", "user_id", "users"]
