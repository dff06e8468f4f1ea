"""The stop button: pause and resume channels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from publisher.config import Config
from publisher.exceptions import ChannelError, ConfigError, InputError
from publisher.services.desk_input import check_channels
from publisher.services.ports import AppPorts


def _targets(config: Config, channels: Sequence[str], all_: bool) -> list[str]:
    if bool(channels) == all_:
        raise InputError("give --channel NAME (repeatable) or --all")
    return list(config.channels) if all_ else check_channels(config.channels, channels)


def pause(app: AppPorts, *, channels: Sequence[str] = (), all_: bool = False, reason: str,
          by: str) -> list[str]:
    """Pause channels: nothing is published on them until ``resume``."""
    from publisher.services.desk_input import editor_name, editor_reason

    names = _targets(app.config, channels, all_)
    reason, by = editor_reason(reason), editor_name(by) or "editor"
    if not reason.strip():
        raise InputError("--reason: say why (it is shown by `publisher status`)")
    states = app.store.channel_states()
    now = app.now()
    for name in names:
        state = states.get(name)
        app.store.set_paused(name, paused=True, now=now, reason=reason.strip(), by=by,
                             auth_failed=bool(state and state.auth_failed))
    return names


@dataclass(frozen=True)
class ResumeResult:
    resumed: tuple[str, ...]
    not_paused: tuple[str, ...]
    refused: tuple[str, ...]  # "x: why"


def resume(app: AppPorts, *, channels: Sequence[str] = (), all_: bool = False,
           force: bool = False) -> ResumeResult:
    """Resume channels.  One paused because the platform refused its
    credentials is asked who it posts as first, and stays paused if that
    fails (unless ``force``)."""
    names = _targets(app.config, channels, all_)
    states = app.store.channel_states()
    resumed, not_paused, refused = [], [], []
    for name in names:
        state = states.get(name)
        if state is None or not state.paused:
            not_paused.append(name)
            continue
        if state.auth_failed and not force:
            try:
                app.channels.get(name).whoami()
            except (ChannelError, ConfigError) as exc:
                refused.append(f"{name}: credentials still refused ({_one_line(exc)})")
                continue
        app.store.set_paused(name, paused=False, now=app.now())
        resumed.append(name)
    return ResumeResult(tuple(resumed), tuple(not_paused), tuple(refused))


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
