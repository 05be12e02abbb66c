"""The AMA in Discord: `/ask`, `/ama …`, and the AMA's buttons, selects and modals. Thin:
every decision is the AMA service's (bot/services/ama.py) and every message its renderer's
(bot/render/ama.py).

Every click is answered first (a modal, or a deferral), then the work is done. Staff buttons
(review cards, the host board) check the clicker's roles on the server on every click: a
member who replays a board button's custom id is refused and nothing changes.

Several series may run AMAs (one `AmaService` each, `bot.ama_services`): a button or a modal
goes to the series of the question or session it carries, a command to the series its
`series` option, its place (an AMA's thread) or the only AMA taking questions names; the
decision is bot/services/ama_routing.py's.
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.ama import modal_from, submitted_fields
from bot.discord.app import AmaBot
from bot.discord.organisers import is_host, organiser_refusal
from bot.discord.replies import reply, reply_ephemeral
from bot.discord.sender import payload_kwargs
from bot.plan import ama_posts
from bot.plan.ama import AmaSession, Question, QuestionMove, SessionMove, SessionState
from bot.render import ama as render
from bot.services.ama import AmaService, AskOutcome
from bot.services.ama_routing import AmaRouter, choose_ask, choose_series

log = logging.getLogger("amabot.cogs.ama")

REVIEW_MOVES = {
    "approve": QuestionMove.APPROVE,
    "hold": QuestionMove.HOLD,
}
SESSION_COMMANDS = {
    "open": SessionMove.OPEN,
    "live": SessionMove.LIVE,
    "close": SessionMove.CLOSE,
    "reopen": SessionMove.REOPEN,
}
YES = {"y", "yes", "true", "1", "anon", "anonymous"}


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() else None


class AmaCog(commands.Cog):
    """`/ask` and `/ama`: the AMA run inside Discord."""

    ama = app_commands.Group(
        name="ama", description="The AMA: your questions, and the organisers' controls."
    )

    def __init__(self, bot: AmaBot):
        self.bot = bot

    @property
    def router(self) -> AmaRouter:
        """Every series' AMA service (read at each use: the bot builds them at start-up)."""
        if not self.bot.ama_services:
            raise RuntimeError("the AMA is not enabled")
        return AmaRouter(self.bot.ama_services)

    @property
    def service(self) -> AmaService:
        """The first series' AMA: what an id or a command naming no series always meant."""
        service = self.router.first
        if service is None:
            raise RuntimeError("the AMA is not enabled")
        return service

    def _series_choices(
        self, series_ids: list[str], current: str
    ) -> list[app_commands.Choice[str]]:
        router, wanted = self.router, current.lower()
        return [
            app_commands.Choice(name=router.name(sid)[:100], value=sid)
            for sid in series_ids
            if wanted in sid.lower() or wanted in router.name(sid).lower()
        ][:25]

    async def cog_load(self) -> None:
        self.bot.register_button("ama", self.on_button)

    async def cog_unload(self) -> None:
        self.bot.unregister_button("ama")

    # -- members --------------------------------------------------------------------------

    @app_commands.command(name="ask", description="Ask the AMA's guest a question.")
    @app_commands.describe(
        question="Your question (leave it out to write it in a form).",
        anonymous="Shown as from 'a community member' (organisers still see who asked).",
        ama="Which AMA, when more than one is taking questions.",
        series="Which series' AMA, when several are taking questions.",
    )
    @app_commands.guild_only()
    async def ask(
        self,
        interaction: discord.Interaction,
        question: str | None = None,
        anonymous: bool = False,
        ama: str | None = None,
        series: str | None = None,
    ) -> None:
        """Ask a question in the AMA that is taking questions (a form opens without text)."""
        router = self.router
        route = choose_ask(
            await router.open_sessions(),
            series=series,
            episode=ama,
            channel_id=interaction.channel_id,
        )
        chosen = route.session
        if chosen is None:
            if route.which:
                names = ", ".join(router.name(sid) for sid in route.which)
                await reply_ephemeral(
                    interaction, f"Which series? Pick one with `series:` ({names})."
                )
                return
            if route.episodes:
                names = ", ".join(route.episodes)
                await reply_ephemeral(interaction, f"Which AMA? Pick one with `ama:` ({names}).")
                return
            await reply_ephemeral(interaction, await self._closed_text(route.series))
            return
        service = router.service(chosen.key.series) or self.service
        if question is None:
            view = ama_posts.view_of(chosen, service.series_name)
            await interaction.response.send_modal(modal_from(render.ask_modal(view)))
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        outcome = await service.ask(
            chosen.id,
            member_id=interaction.user.id,
            name=interaction.user.display_name,
            text=question,
            anonymous=anonymous,
        )
        await self._tell_outcome(interaction, service, outcome)

    async def _closed_text(self, series: str | None) -> str:
        """Why nothing takes questions: the named series' word, or each series' own."""
        router = self.router
        named = router.service(series)
        if series is not None and named is None:
            return f"`{series[:40]}` has no AMA."
        if named is not None or len(router.services) == 1:
            return await (named or self.service).closed_text(None)
        texts = [await s.closed_text(None) for s in router.services.values()]
        coming = [t for t in dict.fromkeys(texts) if not t.startswith("No AMA")]
        return " ".join(coming) or texts[0]

    @ask.autocomplete("series")
    async def _asking_series_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """The series with an AMA taking questions."""
        open_ = await self.router.open_sessions()
        return self._series_choices(list(dict.fromkeys(s.key.series for s in open_)), current)

    @ask.autocomplete("ama")
    async def _ama_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        sessions = await self.router.open_sessions()
        router = self.router
        several = len(router.services) > 1
        return [
            app_commands.Choice(
                name=((f"{router.name(s.key.series)} · " if several else "") + s.title)[:100],
                value=s.key.episode_id,
            )
            for s in sessions
            if current.lower() in s.title.lower() or current.lower() in s.key.episode_id
        ][:25]

    @ama.command(name="mine", description="Your questions in this AMA (edit or withdraw them).")
    @app_commands.describe(series="Which series' AMA (default: every AMA taking questions).")
    @app_commands.guild_only()
    async def mine(self, interaction: discord.Interaction, series: str | None = None) -> None:
        """List your questions, with Edit and Withdraw while they are unanswered."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        router = self.router
        services = (
            [router.service(series)] if series is not None else list(router.services.values())
        )
        questions: list[Question] = []
        any_session = False
        for service in services:
            if service is None:
                continue
            sessions = await service.open_sessions() or await service.store.ama.sessions(
                (SessionState.CLOSED,), series=service.series
            )
            if sessions:
                any_session = True
                questions.extend(await service.mine(sessions[0].id, interaction.user.id))
        if not any_session:
            await reply_ephemeral(interaction, await self._closed_text(series))
            return
        await reply(interaction, render.my_questions(questions))

    # -- organisers ---------------------------------------------------------------------------

    @ama.command(name="open", description="Organisers: open questions now.")
    @app_commands.describe(
        episode="The episode (default: the next AMA).",
        series="Which series' AMA (default: the first with the AMA on).",
    )
    async def open_(
        self,
        interaction: discord.Interaction,
        episode: str | None = None,
        series: str | None = None,
    ) -> None:
        """Open questions for an AMA before its time."""
        await self._session_command(interaction, "open", episode, series)

    @ama.command(name="live", description="Organisers: the AMA is live now.")
    @app_commands.describe(
        episode="The episode (default: the next AMA).",
        series="Which series' AMA (default: the first with the AMA on).",
    )
    async def live(
        self,
        interaction: discord.Interaction,
        episode: str | None = None,
        series: str | None = None,
    ) -> None:
        """Mark the AMA live (its Discord event going active does this too)."""
        await self._session_command(interaction, "live", episode, series)

    @ama.command(name="close", description="Organisers: close questions now.")
    @app_commands.describe(
        episode="The episode (default: the AMA taking questions).",
        series="Which series' AMA (default: the first with the AMA on).",
    )
    async def close(
        self,
        interaction: discord.Interaction,
        episode: str | None = None,
        series: str | None = None,
    ) -> None:
        """Close questions: not-reached questions are listed, askers told, the record written."""
        await self._session_command(interaction, "close", episode, series)

    @ama.command(name="reopen", description="Organisers: take questions again.")
    @app_commands.describe(
        episode="The episode (default: the last closed AMA).",
        series="Which series' AMA (default: the first with the AMA on).",
    )
    async def reopen(
        self,
        interaction: discord.Interaction,
        episode: str | None = None,
        series: str | None = None,
    ) -> None:
        """Reopen a closed AMA: its not-reached questions go back into the queue."""
        await self._session_command(interaction, "reopen", episode, series)

    @ama.command(name="publish", description="Organisers: write the AMA's record back again.")
    @app_commands.describe(
        episode="The episode (default: the last closed AMA).",
        series="Which series' AMA (default: the first with the AMA on).",
    )
    async def publish(
        self,
        interaction: discord.Interaction,
        episode: str | None = None,
        series: str | None = None,
    ) -> None:
        """Push the AMA's record to its branch again (or attach it here when pushing fails)."""
        await self._session_command(interaction, "publish", episode, series)

    @ama.command(name="board", description="Organisers and hosts: join the host board.")
    @app_commands.describe(series="Which series' AMA (default: the first with the AMA on).")
    async def board(self, interaction: discord.Interaction, series: str | None = None) -> None:
        """Add yourself to the host board's private thread of the current AMA."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        service = await self._organiser_service(interaction, series)
        if service is None:
            await reply_ephemeral(interaction, "That series has no AMA.")
            return
        if not self._staff(interaction, service):
            await reply_ephemeral(interaction, "Only organisers and hosts can do that.")
            return
        session = await self._pick(service, None, "board")
        if session is None:
            await reply_ephemeral(interaction, "No AMA has a host board yet.")
            return
        thread = await service.join_board(session.id, interaction.user.id)
        text = (
            f"You are on the host board: <#{thread}>." if thread else "The board is not made yet."
        )
        await reply_ephemeral(interaction, text)

    @open_.autocomplete("episode")
    @live.autocomplete("episode")
    @close.autocomplete("episode")
    @reopen.autocomplete("episode")
    @publish.autocomplete("episode")
    async def _episode_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        router = self.router
        named = getattr(interaction.namespace, "series", None)
        series_ids = (
            [named] if isinstance(named, str) and named in router.services else router.series_ids()
        )
        several = len(router.services) > 1
        wanted = current.lower()
        choices: list[app_commands.Choice[str]] = []
        for sid in series_ids:
            service = router.services[sid]
            prefix = f"{service.series_name} · " if several else ""
            for s in reversed(await service.store.ama.sessions(series=sid)):
                if wanted in s.title.lower() or wanted in s.key.episode_id:
                    label = f"{prefix}{s.title} ({s.state})"[:100]
                    choices.append(app_commands.Choice(name=label, value=s.key.episode_id))
        return choices[:25]

    @open_.autocomplete("series")
    @live.autocomplete("series")
    @close.autocomplete("series")
    @reopen.autocomplete("series")
    @publish.autocomplete("series")
    @board.autocomplete("series")
    @mine.autocomplete("series")
    async def _enabled_series_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """The series with the AMA enabled."""
        return self._series_choices(self.router.series_ids(), current)

    async def _organiser_service(
        self, interaction: discord.Interaction, series: str | None
    ) -> AmaService | None:
        """The series an `/ama` command means (its option, its thread, else the first)."""
        router = self.router
        sessions = await router.sessions() if series is None else []
        chosen = choose_series(
            router.series_ids(),
            series=series,
            sessions=sessions,
            channel_id=interaction.channel_id,
        )
        return router.service(chosen)

    async def _session_command(
        self,
        interaction: discord.Interaction,
        action: str,
        episode: str | None,
        series: str | None = None,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        refusal = organiser_refusal(interaction)
        if refusal is not None:
            await reply_ephemeral(interaction, refusal)
            return
        service = await self._organiser_service(interaction, series)
        if service is None:
            await reply_ephemeral(interaction, "That series has no AMA.")
            return
        if episode and series is None and await service.session_for(episode) is None:
            # An episode of another series, named without its series: the first that has it.
            service = await self.router.for_episode(episode) or service
        session = await self._pick(service, episode, action)
        if session is None:
            await reply_ephemeral(interaction, "I know no such AMA.")
            return
        if action == "publish":
            await reply_ephemeral(
                interaction, await service.publish(session.id, interaction.user.id)
            )
            return
        moved = await service.move(session.id, SESSION_COMMANDS[action], interaction.user.id)
        if moved.done:
            await service.join_board(session.id, interaction.user.id)
            text = f"{session.title}: {moved.state}."
        else:
            by = f" (by <@{moved.by}>)" if moved.by else ""
            text = f"{session.title} is {moved.state or 'gone'}{by}; nothing changed."
        await reply_ephemeral(interaction, text)

    async def _pick(
        self, service: AmaService, episode: str | None, action: str
    ) -> AmaSession | None:
        if episode:
            return await service.session_for(episode)
        sessions = await service.store.ama.sessions(series=service.series)
        wanted = {
            "open": (SessionState.SCHEDULED,),
            "live": (SessionState.COLLECTING, SessionState.SCHEDULED),
            "close": (SessionState.LIVE, SessionState.COLLECTING),
            "board": (SessionState.LIVE, SessionState.COLLECTING, SessionState.CLOSED),
            "reopen": (SessionState.CLOSED, SessionState.PUBLISHED),
            "publish": (SessionState.CLOSED, SessionState.PUBLISHED),
        }[action]
        for states in ((s,) for s in wanted):
            found = [s for s in sessions if s.state in states]
            if found:
                # the next one to open; the latest one closed
                return found[0] if action in ("open", "live") else found[-1]
        return None

    def _staff(self, interaction: discord.Interaction, service: AmaService) -> bool:
        """An organiser, or a host of that series' AMA (its `[ama] host_role_ids`), checked
        on the server at this click."""
        return organiser_refusal(interaction) is None or is_host(interaction.user, service.settings)

    # -- buttons, selects and modals ------------------------------------------------------------

    async def on_button(self, interaction: discord.Interaction, arg: str) -> None:
        """Every ``amabot:ama:…`` click."""
        action, _, rest = arg.partition(":")
        router = self.router
        if action == "ask-episode":
            # Only the episode in the id: the first series with that episode's AMA.
            service = await router.for_episode(rest) or self.service
            session = await service.session_for(rest)
            await self._ask_button(interaction, service, session.id if session else 0)
            return
        parts = rest.split(":")
        number = _int(parts[0]) if parts else None
        if number is None:
            await reply_ephemeral(interaction, "This button is no longer active.")
            return
        # The id carries a session (ask, board, pick), a draft (anyway) or a question: the
        # series is that row's, so an id's text never needed to name it.
        if action in ("ask", "board", "pick"):
            found = await router.for_session(number)
        elif action == "anyway":
            found = router.for_draft(number)
        else:
            found = await router.for_question(number)
        if found is None:
            # A series whose AMA is off now (or was removed): no service of another series
            # may act on its rows.
            await reply_ephemeral(interaction, "This AMA is no longer run here.")
            return
        service = found
        if action == "ask":
            await self._ask_button(interaction, service, number)
        elif action in ("review", "merge", "deny", "board", "pick"):
            await self._staff_click(interaction, service, action, number, parts[1:])
        else:
            await self._member_click(interaction, service, action, number)

    async def _ask_button(
        self, interaction: discord.Interaction, service: AmaService, session_id: int
    ) -> None:
        session = await service.store.ama.session(session_id)
        if session is None or not session.is_open:
            await reply_ephemeral(interaction, await service.closed_text(session))
            return
        view = ama_posts.view_of(session, service.series_name)
        await interaction.response.send_modal(modal_from(render.ask_modal(view)))

    async def _member_click(
        self, interaction: discord.Interaction, service: AmaService, action: str, number: int
    ) -> None:
        member = interaction.user.id
        if action == "mine-edit":
            question = await service.store.ama.question(number)
            if question is None or question.author_id != member:
                await reply_ephemeral(interaction, "Only the asker can edit a question.")
                return
            sid = await service.store.ama.session_id_of(number)
            session = await service.store.ama.session(sid) if sid else None
            if session is None:
                await reply_ephemeral(interaction, "That AMA is gone.")
                return
            view = ama_posts.view_of(session, service.series_name)
            modal = render.ask_modal(view, text=question.text, question_id=number)
            await interaction.response.send_modal(modal_from(modal))
            return
        if action == "vote":
            await self._vote(interaction, service, number, member)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        if action == "plus1":
            voted = await service.back_instead(number, member)
            text = (
                "Thanks: your +1 is counted."
                if voted.voted
                else "That question takes no votes now."
            )
            await reply_ephemeral(interaction, text)
        elif action == "anyway":
            await self._tell_outcome(interaction, service, await service.ask_draft(number, member))
        elif action == "withdraw":
            moved = await service.withdraw(number, member)
            text = "Withdrawn." if moved.done else "That question can no longer be withdrawn."
            await reply_ephemeral(interaction, text)
        else:
            await reply_ephemeral(interaction, "This button is no longer active.")

    async def _vote(
        self, interaction: discord.Interaction, service: AmaService, question_id: int, member: int
    ) -> None:
        """ "Me too": acknowledged as an update of the clicked message, the vote stored, a
        private word to the member, then the message shown with its new count through the
        click's own answer (no channel edit, so a vote storm meets no edit limit)."""
        await interaction.response.defer()
        voted = await service.vote(question_id, member)
        if voted.refused is not None:
            text = (
                "You asked this one: it counts you already."
                if voted.refused == "own"
                else "Votes on this question are closed."
            )
        else:
            text = ("Counted: " if voted.voted else "Your vote is taken back: ") + (
                f"{voted.count} now."
            )
        await interaction.followup.send(
            text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )
        if voted.refused is not None:
            return

        async def update(payload: dict[str, Any]) -> None:
            kwargs = payload_kwargs(payload)
            kwargs.pop("allowed_mentions", None)
            await interaction.edit_original_response(**kwargs)

        try:
            await service.show_on_click(question_id, update)
        except discord.HTTPException:
            log.warning("could not update question %s on its click", question_id)

    async def _staff_click(
        self,
        interaction: discord.Interaction,
        service: AmaService,
        action: str,
        number: int,
        more: list[str],
    ) -> None:
        # Checked on every click, before anything: a replayed id from a member does nothing.
        if not self._staff(interaction, service):
            await reply_ephemeral(interaction, "Only organisers and hosts can do that.")
            return
        actor = interaction.user.id
        what = more[0] if more else ""
        if action == "board" and what == "notes":
            on_air = await service.on_air(number)
            if on_air is None:
                await reply_ephemeral(interaction, "Nothing is on air to take notes for.")
                return
            await interaction.response.send_modal(modal_from(render.notes_modal(on_air)))
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        if action == "board":
            await reply_ephemeral(interaction, await service.board_action(number, what, actor))
        elif action == "pick":
            pick = _picked(interaction)
            text = await service.board_action(number, "pick", actor, pick)
            await reply_ephemeral(interaction, text)
        elif action == "merge":
            target = _picked(interaction)
            if target is None:
                await reply_ephemeral(interaction, "Pick the question to merge into.")
                return
            moved = await service.merge(number, target, actor)
            await reply_ephemeral(interaction, _moved_text(number, moved, "merged"))
        elif action == "deny":
            data: Any = interaction.data or {}
            values = data.get("values") or []
            reason, _, tell = str(values[0]).partition(":") if values else ("", "", "")
            if reason not in render.DENY_REASONS:
                await reply_ephemeral(interaction, "Pick a reason.")
                return
            moved = await service.review_move(
                number, QuestionMove.DENY, actor, tell=tell == "tell", reason=reason
            )
            await reply_ephemeral(interaction, _moved_text(number, moved, "denied"))
        elif what == "deny":
            question = await service.store.ama.question(number)
            if question is None:
                await reply_ephemeral(interaction, "That question is gone.")
                return
            await reply(interaction, render.deny_picker(question))
        elif what == "merge":
            source, candidates = await service.merge_candidates(number)
            if source is None:
                await reply_ephemeral(interaction, "That question is gone.")
                return
            await reply(interaction, render.merge_picker(source, candidates))
        elif what in REVIEW_MOVES:
            moved = await service.review_move(number, REVIEW_MOVES[what], actor)
            await reply_ephemeral(interaction, _moved_text(number, moved, what))
            await service.join_board_of_question(number, actor)
        else:
            await reply_ephemeral(interaction, "This button is no longer active.")

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Modal submissions of the AMA (``amabot:ama:asked|edit|notes:<id>``)."""
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        data: Any = interaction.data or {}
        parts = render.parse_ama_id(str(data.get("custom_id", "")))
        if not parts or len(parts) != 2 or _int(parts[1]) is None:
            return
        kind, number = parts[0], int(parts[1])
        router = self.router
        # `asked:<session>`; `edit:` and `notes:<question>`: routed by that row's series.
        found = await (
            router.for_session(number) if kind == "asked" else router.for_question(number)
        )
        if found is None:
            await reply_ephemeral(interaction, "This AMA is no longer run here.")
            return
        service = found
        values = submitted_fields(data)
        await interaction.response.defer(ephemeral=True, thinking=True)
        member = interaction.user.id
        if kind == "asked":
            anonymous = values.get("anonymous", "").strip().lower() in YES
            outcome = await service.ask(
                number,
                member_id=member,
                name=interaction.user.display_name,
                text=values.get("question", ""),
                anonymous=anonymous,
            )
            await self._tell_outcome(interaction, service, outcome)
        elif kind == "edit":
            result = await service.edit(number, member, values.get("question", ""))
            done = getattr(result, "done", False)
            text = (
                "Your question is updated."
                if done
                else getattr(result, "message", "") or ("That question can no longer be edited.")
            )
            await reply_ephemeral(interaction, text)
        elif kind == "notes":
            if not self._staff(interaction, service):
                await reply_ephemeral(interaction, "Only organisers and hosts can do that.")
                return
            saved = await service.set_notes(number, values.get("notes", ""), member)
            await reply_ephemeral(
                interaction, "Notes saved." if saved else "That question is gone."
            )

    async def _tell_outcome(
        self, interaction: discord.Interaction, service: AmaService, outcome: AskOutcome
    ) -> None:
        if outcome.stored is not None:
            public = service.review.value != "pre"
            await reply_ephemeral(interaction, render.receipt(outcome.stored, public=public))
        elif outcome.similar and outcome.draft is not None:
            await reply(interaction, render.similar_offer(outcome.draft, outcome.similar))
        else:
            await reply_ephemeral(interaction, outcome.message or "That did not work; try again.")


def _picked(interaction: discord.Interaction) -> int | None:
    """The question id a select sent (its first value)."""
    data: Any = interaction.data or {}
    values = data.get("values") or []
    return _int(str(values[0])) if values else None


def _moved_text(number: int, moved: Any, what: str) -> str:
    if moved.done:
        return f"Question #{number}: {moved.state}."
    by = f" by <@{moved.by}>" if moved.by else ""
    return f"Question #{number} was already {moved.state or 'gone'}{by}; nothing changed."


async def setup(bot: AmaBot) -> None:
    if any(show.ama.enabled for show in bot.settings.shows()):
        await bot.add_cog(AmaCog(bot))
