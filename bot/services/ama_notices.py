"""The AMA's askers told: one DM per member who asked to hear back (an outbox row each, so
sent once), and a ping in the session's thread for a member whose DMs are closed."""

from __future__ import annotations

from bot.plan import ama_posts
from bot.plan.ama import AmaKey, AmaSession
from bot.plan.kinds import ama_dm_key, parse_ama_dm_key
from bot.plan.posts import PlannedPost
from bot.render.limits import allowed_mentions
from bot.services.ama_messages import AmaPart


class AmaNotices(AmaPart):
    """Telling askers what came of their question."""

    async def tell_answered(self, session: AmaSession, question_id: int) -> None:
        post = await self.store.outbox.get(ama_posts.question_key(session.key, question_id))
        where = session.thread_id or self.cfg.channel_id
        link = f"https://discord.com/channels/{self.guild_id}/{where}"
        if post is not None and post.message_id is not None:
            link += f"/{post.message_id}"
        text = f"Your question in the {session.title} AMA was answered: {link}"
        await self.tell(session, question_id, "answered", text)

    async def tell(
        self,
        session: AmaSession,
        question_id: int,
        about: str,
        text: str,
        *,
        only_author: bool = False,
    ) -> None:
        """One DM per member who asked to hear back (an outbox row each: sent once)."""
        question = await self.store.ama.question(question_id)
        if question is None:
            return
        members = (
            [(question.author_id, question.author_name)]
            if only_author
            else await self.store.ama.to_tell(question_id)
        )
        now = self.clock()
        posts = [
            PlannedPost(
                key=ama_dm_key(
                    member, session.key.series, session.key.episode_id, f"{about}{question_id}"
                ),
                kind="dm",
                due_at=now,
                channel_id=0,
                payload={"content": text, "allowed_mentions": allowed_mentions()},
                subject=session.key.episode_id,
            )
            for member, _name in members
        ]
        for post in posts:
            if await self.store.outbox.add_once(post, now):
                self._schedule(post.key, now)

    async def dm_refused(self, key: str, member_id: int, payload_text: str) -> None:
        """A member's DMs are closed: one reply in the session's thread that pings that
        member alone."""
        try:
            _member, series, episode_id, about = parse_ama_dm_key(key)
        except ValueError:
            return
        session = await self.store.ama.session_of(AmaKey(series, episode_id))
        if session is None or session.thread_id is None:
            return
        now = self.clock()
        post = PlannedPost(
            key=ama_posts.post_key(session.key, f"told-{about}-{member_id}"),
            kind="ama",
            due_at=now,
            channel_id=session.thread_id,
            payload={
                "content": f"<@{member_id}> {payload_text}",
                "allowed_mentions": {"parse": [], "users": [str(member_id)], "roles": []},
            },
            subject=episode_id,
        )
        if await self.store.outbox.add_once(post, now):
            self._schedule(post.key, now)
