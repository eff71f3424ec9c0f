"""A realistic, seeded generator of support events (contract: shared/spec/events.md).

It models an e-commerce customer-service centre in China, calibrated on a few seed figures
(chat: ~28 s mean first response, ~98 % of conversations answered, ~95 % resolved):

- conversations on web / app (most chat), wechat, phone, social and a little email, arriving on a
  daily curve with a morning peak, an evening peak and a night lull;
- customers with a stable tier (vip ~5 %, new ~15 %, regular) and four queues
  (pre_sales, after_sales, logistics, payment);
- agents A001..A040 on four shifts; the evening peak is under-staffed and at night a bot gives
  most first responses, so response times and breaches follow the hour of the day;
- per conversation: a customer opening, bot and agent replies (a first reply usually comes in
  5-15 s, but when the queue backs up, more so at peaks, it takes a minute or more: that tail
  breaches 15-30 s targets and carries the mean), next-response cycles, assignment,
  occasional transfers, system messages, abandonment when the wait outlasts the customer's
  patience, an outcome and sometimes a rating;
- tickets with priorities, categories and groups, assigned minutes to hours later by agents on
  shift, public and internal comments, pending periods waiting on the customer, escalations to
  urgent, solves, reopens, auto-close and ratings.

The generator is pure: no I/O, no wall clock, no global random state. A config gives the same
events every time (separate `random.Random`s seeded from the config's seed, so e.g. changing
`tickets_per_day` does not change the conversations). `generate_jsonl` is the one function with
I/O. The output is a log of the window [start, start + days): events that would fall after its
end are not emitted, so entities near the end are still open, like in a real log extract.

Event times are whole seconds, formatted with the UTC offset of `start` (+08:00 by default).
"""
from __future__ import annotations

import heapq
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from itertools import accumulate
from math import ceil
from os import PathLike
from typing import Iterator

import orjson

__all__ = ["GeneratorConfig", "generate", "generate_jsonl", "CHAT_CHANNELS", "AGENT_IDS"]

CST = timezone(timedelta(hours=8), "CST")
DEFAULT_START = datetime(2026, 11, 2, tzinfo=CST)  # a Monday

# Channels where a customer types and waits on screen; phone and email behave differently and
# are left out of chat response-time figures.
CHAT_CHANNELS = ("web", "app", "wechat", "social")

DAY = 86_400
HOUR = 3_600


@dataclass
class GeneratorConfig:
    seed: int = 1
    start: datetime = DEFAULT_START
    days: float = 1.0
    conversations_per_day: int = 2000
    tickets_per_day: int = 300
    duplicate_rate: float = 0.0  # fraction of events re-emitted with the same event_id (redelivery)
    disorder_seconds: float = 0.0  # events may appear up to this many seconds out of event-time order

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.start.utcoffset() is None:
            raise ValueError("GeneratorConfig.start must have a UTC offset")
        if not self.days > 0:
            raise ValueError("GeneratorConfig.days must be > 0")
        if self.conversations_per_day < 0 or self.tickets_per_day < 0:
            raise ValueError("GeneratorConfig: per-day counts must be >= 0")
        if not 0.0 <= self.duplicate_rate <= 1.0:
            raise ValueError("GeneratorConfig.duplicate_rate must be within [0, 1]")
        if not self.disorder_seconds >= 0:
            raise ValueError("GeneratorConfig.disorder_seconds must be >= 0")


# --- the world --------------------------------------------------------------------------------
# Relative arrivals per local hour 00..23: a night lull, a morning peak around 10-11, a steady
# afternoon and the e-commerce evening peak around 20-22 (people shop and ask after work).
CONV_HOURLY = (2.0, 1.0, 0.6, 0.4, 0.3, 0.4, 0.8, 1.6, 3.0, 4.6, 5.6, 5.4,
               4.4, 4.8, 5.0, 4.9, 4.6, 4.2, 4.0, 4.8, 5.8, 6.0, 4.8, 3.4)
# Tickets (forms, e-mail, escalations) follow office life more than evening shopping.
TICKET_HOURLY = (0.8, 0.5, 0.3, 0.2, 0.2, 0.3, 0.6, 1.2, 2.6, 4.2, 4.8, 4.6,
                 3.6, 4.2, 4.6, 4.4, 4.0, 3.4, 2.8, 2.8, 3.0, 2.8, 2.0, 1.3)

# (first agent id number, last, shift start hour, shift end hour): the end may wrap past midnight.
# The 19-23 evening peak has only the late shift: that is where chat waits grow.
SHIFTS = ((1, 14, 8, 17), (15, 24, 10, 19), (25, 34, 14, 23), (35, 40, 23, 8))
AGENT_IDS = tuple(f"A{i:03d}" for i in range(1, 41))
NIGHT_SHIFT_FIRST = 35  # night agents only do chat; tickets wait for the day

CONV_CHANNELS = (("web", 36), ("app", 34), ("wechat", 15), ("phone", 8), ("social", 5), ("email", 2))
TICKET_CHANNELS = (("web", 28), ("app", 24), ("email", 24), ("phone", 12), ("wechat", 8), ("social", 4))

# Per channel: (first-response median s when an agent is free, next-response median s,
# customer think median s, patience median s or None, bot share by day, evening, night).
# Bots only sit in front of web, app and wechat chat; social gets an auto-acknowledgement now
# and then; phone waits are queue time before pick-up; e-mail is answered in tens of minutes.
CHANNEL_PARAMS = {
    "web": (11.0, 22.0, 25.0, 420.0, 0.06, 0.15, 0.85),
    "app": (11.0, 22.0, 25.0, 420.0, 0.08, 0.15, 0.85),
    "wechat": (13.0, 26.0, 35.0, 480.0, 0.08, 0.15, 0.85),
    "social": (20.0, 40.0, 60.0, 540.0, 0.05, 0.10, 0.50),
    "phone": (10.0, 8.0, 6.0, 180.0, 0.0, 0.0, 0.0),
    "email": (1800.0, 3600.0, 3 * HOUR, None, 0.0, 0.0, 0.0),
}
# First responses are a mixture: usually an agent is free and answers within seconds (mostly
# 5-15 s), but when the queue backs up the wait is several times longer. The backed-up share
# grows with load, so the evening peak is where 15-30 s targets breach. This long tail is what
# lifts the mean to the ~28 s of the seed figures while most replies are quick.
FAST_SIGMA = 0.5
SLOW_FACTOR = 7.0
SLOW_SIGMA = 0.6
SLOW_SHARE = 0.28  # at average load; scaled by load squared, capped at 0.5
RESPONSE_SIGMA = 0.62  # next responses and e-mail: a single log-normal
PATIENCE_SIGMA = 0.8

QUEUES = ("pre_sales", "after_sales", "logistics", "payment")
QUEUE_WEIGHTS = (30, 30, 28, 12)

PRIORITIES = (("urgent", 3), ("high", 15), ("normal", 60), ("low", 22))
CATEGORIES = (("inquiry", 24), ("logistics", 22), ("after_sales", 18), ("payment", 10),
              ("complaint", 10), ("product_quality", 9), ("technical", 7))
GROUP_OF = {"inquiry": "general", "logistics": "logistics", "after_sales": "after_sales",
            "payment": "payments", "complaint": "complaints", "product_quality": "after_sales",
            "technical": "tech_support"}
QUEUE_OF_CATEGORY = {"inquiry": "pre_sales", "logistics": "logistics", "after_sales": "after_sales",
                     "payment": "payment", "complaint": "after_sales",
                     "product_quality": "after_sales", "technical": "pre_sales"}
# Ticket delays by priority, median seconds: (assignment, first public reply, each later reply).
TICKET_DELAYS = {
    "urgent": (4 * 60, 10 * 60, 20 * 60),
    "high": (15 * 60, 30 * 60, 45 * 60),
    "normal": (45 * 60, 90 * 60, 2 * HOUR),
    "low": (2 * HOUR, 4 * HOUR, 4 * HOUR),
}

CUSTOMER_POOL = 2_000_000

# Scores skew high when the problem was solved and low when it was not.
SCORES = (1, 2, 3, 4, 5)
SCORE_CUM_GOOD = tuple(accumulate((3, 3, 7, 20, 67)))
SCORE_CUM_BAD = tuple(accumulate((30, 25, 25, 12, 8)))

# --- texts ------------------------------------------------------------------------------------
# "{o}" is replaced by an order number such as 2026111100012345 (order date + 8 digits).
T = {
    "zh": {
        "open": {
            "pre_sales": ("你好，这款还有货吗？", "请问这个商品什么时候发货？", "这个尺码偏大还是偏小？",
                          "双十一有优惠券吗？", "可以开发票吗？"),
            "after_sales": ("我要申请退货，订单号 {o}", "收到的商品有破损，订单号 {o}",
                            "想换一个颜色，订单号 {o}", "退款什么时候到账？订单号 {o}"),
            "logistics": ("我的快递三天了还没到，订单号 {o}", "物流信息一直没有更新，订单号 {o}",
                          "能改一下收货地址吗？订单号 {o}", "快递显示已签收但我没收到，订单号 {o}"),
            "payment": ("付款失败了怎么办？", "我被重复扣款了，订单号 {o}", "花呗分期怎么开通？",
                        "优惠券用不了，订单号 {o}"),
        },
        "follow": ("好的，那大概要多久？", "还有一个问题，可以一起处理吗？", "订单号 {o}，麻烦再帮我看一下",
                   "我已经等了好几天了", "那运费谁承担？", "能不能加急处理？", "明白了"),
        "more": ("在吗？", "麻烦快一点", "图片已发送", "？"),
        "bot_greet": ("您好，我是智能助手小蜜，请问有什么可以帮您？",
                      "您好，欢迎光临！请简单描述您的问题，我来为您解答。"),
        "bot_answer": ("您可以在“我的订单”中查看物流进度哦～", "退货申请提交后，1-3 个工作日内审核完成。",
                       "为您找到以下相关问题：如何申请退款？"),
        "to_human": ("转人工", "人工客服", "我要找人工"),
        "sys_queue": ("正在为您转接人工客服，请稍候…", "当前排队人数较多，请耐心等待"),
        "sys_join": "客服 {a} 已加入会话",
        "sys_transfer": "会话已转接至 {q}",
        "sys_timeout": "由于您长时间未回复，本次会话已结束",
        "sys_left": "客户已离开会话",
        "greet": ("您好，很高兴为您服务", "您好，我是客服{a}，请问有什么可以帮您？", "亲，您好！这边为您查询一下"),
        "reply": ("好的，我帮您查询一下", "请稍等，正在为您核实订单信息", "已为您登记，预计 24 小时内处理完成",
                  "这边看到您的订单 {o} 已经发出了", "非常抱歉给您带来不便", "已为您申请补偿优惠券",
                  "退款会在 1-3 个工作日原路退回"),
        "transfer": ("这边为您转接到专员处理，请稍等", "这个问题需要物流专员处理，马上为您转接"),
        "still_there": ("请问您还在吗？",),
        "close": ("请问还有其他可以帮您的吗？", "感谢您的耐心，祝您生活愉快！", "如果还有问题随时联系我们哦"),
        "thanks": ("好的，谢谢", "谢谢", "没问题了，谢谢"),
        "welcome": ("不客气，祝您购物愉快！",),
        "unresolved": ("很抱歉，这个问题需要转交专员处理，我们已为您创建工单",),
        "wait_left": ("还在吗？", "怎么没人回复"),
        "rate_good": ("服务很好，很耐心", "回复很快，点赞", "问题解决了，谢谢"),
        "rate_bad": ("回复太慢了", "问题没有解决", "一直让我等"),
        "t_desc": {
            "inquiry": ("申请开具增值税发票，订单号 {o}", "请问会员积分怎么使用？", "企业采购有优惠吗？"),
            "logistics": ("快递丢件了，订单号 {o}", "快递一周没有更新，订单号 {o}"),
            "after_sales": ("申请退货退款，订单号 {o}", "退款一周了还没到账，订单号 {o}"),
            "payment": ("重复扣款，订单号 {o}", "发票金额与付款不一致，订单号 {o}"),
            "complaint": ("投诉：客服态度不好", "投诉：承诺的补偿一直没有到账，订单号 {o}"),
            "technical": ("APP 无法登录，一直提示错误", "支付页面一直转圈"),
            "product_quality": ("订单号 {o}，商品到了是坏的，请处理", "商品与描述不符，订单号 {o}"),
        },
        "t_first": ("您好，您的问题我们已收到，正在处理中", "您好，已联系仓库核实，请耐心等待",
                    "您好，非常抱歉给您带来不便，我们会尽快处理"),
        "t_ask": ("请提供一下商品破损的照片", "麻烦提供一下收货人手机号后四位", "请确认一下您的收货地址"),
        "t_cust": ("照片已上传", "手机号后四位 1234", "地址没错", "请尽快处理，谢谢"),
        "t_reply": ("已收到，正在为您处理", "已为您提交退款申请", "已联系快递公司核实"),
        "t_note": ("已联系仓库核实库存", "需要物流部门协助", "客户情绪激动，注意安抚", "已申请补偿券 20 元"),
        "t_escalate": ("客户投诉升级，优先处理",),
        "t_solve": ("您好，您的问题已处理完毕，如有疑问请随时联系我们", "退款已原路退回，请注意查收",
                    "补发的商品已寄出，订单号 {o}"),
        "t_reopen": ("问题还是没有解决", "退款还是没到账", "补发的商品还是有问题"),
    },
    "en": {
        "open": {
            "pre_sales": ("Hi, is this item in stock?", "When will this ship?", "Does size M run small?"),
            "after_sales": ("I want to return order {o}", "My order {o} arrived damaged",
                            "When will I get my refund for order {o}?"),
            "logistics": ("My parcel for order {o} hasn't arrived", "Tracking for order {o} hasn't updated",
                          "Can I change the delivery address of order {o}?"),
            "payment": ("My payment failed", "I was charged twice for order {o}", "My coupon doesn't work"),
        },
        "follow": ("OK, how long will it take?", "Order {o}, could you check again?", "Can you speed it up?",
                   "I see"),
        "more": ("Hello?", "Any update?", "I've sent a photo"),
        "bot_greet": ("Hi, I'm the virtual assistant. How can I help?",),
        "bot_answer": ("You can track your parcel under 'My orders'.", "Refunds are reviewed within 1-3 working days."),
        "to_human": ("agent", "talk to a person"),
        "sys_queue": ("Connecting you to an agent, please wait...",),
        "sys_join": "Agent {a} joined the conversation",
        "sys_transfer": "Conversation transferred to {q}",
        "sys_timeout": "The conversation was closed after a period of inactivity",
        "sys_left": "The customer left the conversation",
        "greet": ("Hello, thanks for contacting us", "Hi, this is {a}, how can I help you today?"),
        "reply": ("Let me check that for you", "One moment please, I'm looking at order {o}",
                  "Sorry for the inconvenience", "The refund will reach you in 1-3 working days"),
        "transfer": ("Let me transfer you to a specialist",),
        "still_there": ("Are you still there?",),
        "close": ("Is there anything else I can help with?", "Thanks for your patience, have a nice day!"),
        "thanks": ("Thanks!", "OK thank you"),
        "welcome": ("You're welcome!",),
        "unresolved": ("Sorry, a specialist needs to look at this; we've opened a ticket for you",),
        "wait_left": ("Hello? Anyone?",),
        "rate_good": ("Very helpful, thanks!", "Quick and friendly"),
        "rate_bad": ("Too slow", "My problem was not solved"),
        "t_desc": {
            "inquiry": ("Can I get a VAT invoice for order {o}?", "How do I use my points?"),
            "logistics": ("My parcel for order {o} is lost",),
            "after_sales": ("Refund for order {o} still not received", "I want to return order {o}"),
            "payment": ("I was charged twice for order {o}",),
            "complaint": ("Complaint: the agent was rude",),
            "technical": ("Cannot log in to the app",),
            "product_quality": ("Order {o} arrived broken, please help",),
        },
        "t_first": ("Hello, we have received your request and are looking into it",),
        "t_ask": ("Could you send a photo of the damage?", "Please confirm your delivery address"),
        "t_cust": ("Photo attached", "The address is correct", "Please hurry"),
        "t_reply": ("Thanks, we are processing it", "We have submitted your refund"),
        "t_note": ("Checked stock with warehouse", "Waiting for courier investigation"),
        "t_escalate": ("Customer complaint escalated, prioritise",),
        "t_solve": ("Your issue has been resolved, feel free to contact us again",
                    "The refund has been issued"),
        "t_reopen": ("This is still not fixed", "The refund still hasn't arrived"),
    },
}
LANG_TAG = {"zh": "zh-CN", "en": "en"}


def _cum(pairs):
    names = tuple(p[0] for p in pairs)
    return names, tuple(accumulate(p[1] for p in pairs))


def _shift_of(agent_no: int) -> tuple[int, int]:
    for first, last, s, e in SHIFTS:
        if first <= agent_no <= last:
            return s, e
    raise ValueError(agent_no)


def _on_shift(agent_no: int, hour: int) -> bool:
    s, e = _shift_of(agent_no)
    return s <= hour < e if s < e else (hour >= s or hour < e)


def _agents_by_hour(tickets: bool) -> tuple[tuple[int, ...], ...]:
    out = []
    for h in range(24):
        out.append(tuple(n for n in range(1, 41)
                         if _on_shift(n, h) and not (tickets and n >= NIGHT_SHIFT_FIRST)))
    return tuple(out)


CHAT_AGENTS_BY_HOUR = _agents_by_hour(False)
TICKET_AGENTS_BY_HOUR = _agents_by_hour(True)


def _load_multipliers() -> tuple[float, ...]:
    # Waits grow with arrivals per agent on shift; the square root keeps it moderate (agents
    # speed up and queues absorb some load). Normalised so a typical hour is ~1.
    loads = [CONV_HOURLY[h] / len(CHAT_AGENTS_BY_HOUR[h]) for h in range(24)]
    ref = sum(l * w for l, w in zip(loads, CONV_HOURLY)) / sum(CONV_HOURLY)
    return tuple(min(1.8, max(0.7, (l / ref) ** 0.5)) for l in loads)


LOAD_MULT = _load_multipliers()


def _arrivals(rng: random.Random, start: int, end: int, off: int, per_day: int,
              hourly: tuple[float, ...]) -> list[int]:
    """Arrival instants over [start, end): piecewise-constant rate per local hour."""
    total = sum(hourly)
    out: list[int] = []
    rnd = rng.random
    t = start
    while t < end:
        local_hour_no = (t + off) // HOUR
        bucket_end = min(end, (local_hour_no + 1) * HOUR - off)
        span = bucket_end - t
        expected = per_day * hourly[local_hour_no % 24] / total * span / HOUR
        # Stochastic rounding keeps the daily total close to the configured figure.
        for _ in range(int(expected + rnd())):
            out.append(t + int(rnd() * span))
        t = bucket_end
    out.sort()
    return out


class _Clock:
    """Fast RFC 3339 formatting of whole seconds in one fixed offset.

    Formatting is the generator's hottest spot, so the "YYYY-MM-DDTHH:MM:" prefix is cached
    per local minute and the "SS+08:00" tails are precomputed.
    """

    def __init__(self, off: int) -> None:
        self.off = off
        sign = "+" if off >= 0 else "-"
        hh, mm = divmod(abs(off) // 60, 60)
        suffix = f"{sign}{hh:02d}:{mm:02d}"
        self.tails = tuple(f"{s:02d}{suffix}" for s in range(60))
        self.minutes: dict[int, str] = {}
        self.day_digits: dict[int, str] = {}

    def fmt(self, t: int) -> str:
        m, s = divmod(t + self.off, 60)
        prefix = self.minutes.get(m)
        if prefix is None:
            d, mod = divmod(m, 1440)
            h, mi = divmod(mod, 60)
            prefix = self.minutes[m] = f"{date(1970, 1, 1) + timedelta(days=d)}T{h:02d}:{mi:02d}:"
        return prefix + self.tails[s]

    def hour(self, t: int) -> int:
        return (t + self.off) // HOUR % 24

    def date_digits(self, t: int) -> str:
        d = (t + self.off) // DAY
        digits = self.day_digits.get(d)
        if digits is None:
            digits = self.day_digits[d] = (date(1970, 1, 1) + timedelta(days=d)).strftime("%Y%m%d")
        return digits


class _World:
    def __init__(self, cfg: GeneratorConfig, clock: _Clock) -> None:
        self.cfg = cfg
        self.clock = clock
        self.rc = random.Random(f"{cfg.seed}:conversations")
        self.rt = random.Random(f"{cfg.seed}:tickets")
        self.conv_channels = _cum(CONV_CHANNELS)
        self.ticket_channels = _cum(TICKET_CHANNELS)
        self.priorities = _cum(PRIORITIES)
        self.categories = _cum(CATEGORIES)
        self.queue_cum = tuple(accumulate(QUEUE_WEIGHTS))
        self.conversations_started = 0
        self.msg_no = 0

    # -- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _customer(rng: random.Random) -> tuple[str, str]:
        no = rng.randrange(CUSTOMER_POOL)
        # The tier is a property of the customer, so a returning customer keeps it.
        bucket = (no * 2654435761) % 100
        tier = "vip" if bucket < 5 else ("new" if bucket < 20 else "regular")
        return f"U{no:07d}", tier

    def _order(self, rng: random.Random, t: int) -> str:
        # Orders are placed in the days before the contact.
        return f"{self.clock.date_digits(t - int(rng.random() * 10 * DAY))}{rng.randrange(10**8):08d}"

    def _text(self, rng: random.Random, t: int, choices) -> str:
        s = choices[int(rng.random() * len(choices))]
        if "{o}" in s:
            s = s.replace("{o}", self._order(rng, t))
        return s

    def _office(self, t: int) -> int:
        """`t` if within 09:00-21:00 local, else the next 09:00 plus the time to get to it."""
        h = self.clock.hour(t)
        if 9 <= h < 21:
            return t
        sod = (t + self.clock.off) % DAY
        return t + (9 * HOUR - sod) % DAY + int(self.rc.random() * HOUR)

    def _msg_id(self) -> str:
        self.msg_no += 1
        return f"M{self.cfg.seed}-{self.msg_no}"

    # -- conversations ---------------------------------------------------------------------
    def conversation(self, n: int, t0: int, out: list) -> None:
        rng = self.rc
        rnd = rng.random
        lognorm = rng.lognormvariate
        fmt = self.clock.fmt
        cid = f"CV{n:07d}"
        names, cum = self.conv_channels
        channel = rng.choices(names, cum_weights=cum)[0]
        customer_id, tier = self._customer(rng)
        queue = rng.choices(QUEUES, cum_weights=self.queue_cum)[0]
        lang = "en" if rnd() < 0.07 else "zh"
        tx = T[lang]
        hour = self.clock.hour(t0)
        first_med, next_med, think_med, patience_med, bot_day, bot_eve, bot_night = CHANNEL_PARAMS[channel]
        # Staffing only matters for live channels; e-mail is a back-office queue.
        mult = LOAD_MULT[hour] if channel != "email" else 1.0
        slow_share = min(0.5, SLOW_SHARE * LOAD_MULT[hour] ** 2)
        if tier == "vip":
            mult *= 0.6  # VIPs are routed to a priority queue
            slow_share *= 0.4

        def ev(t: int, typ: str, **fields) -> None:
            d = {"event_id": None, "type": typ, "occurred_at": fmt(t), "conversation_id": cid}
            d.update(fields)
            out.append((t, d))

        def msg(t: int, role: str, text: str, author: str | None = None) -> None:
            d = {"event_id": None, "type": "conversation.message", "occurred_at": fmt(t),
                 "conversation_id": cid, "message_id": self._msg_id(), "author_role": role}
            if author is not None:
                d["author_id"] = author
            d["text"] = text
            out.append((t, d))

        def pick_agent(t: int) -> str:
            pool = CHAT_AGENTS_BY_HOUR[self.clock.hour(t)]
            return AGENT_IDS[pool[int(rnd() * len(pool))] - 1]

        ev(t0, "conversation.started", channel=channel, customer_id=customer_id,
           customer_tier=tier, queue=queue, language=LANG_TAG[lang])
        t = t0 + int(rnd() * 5)
        msg(t, "customer", self._text(rng, t, tx["open"][queue]))

        # How long this customer will wait for a person before leaving (e-mail never leaves).
        patience = patience_med * lognorm(0.0, PATIENCE_SIGMA) if patience_med else float("inf")
        bot_share = bot_night if (hour >= 23 or hour < 8) else (bot_eve if hour >= 19 else bot_day)
        responded_by_bot = rnd() < bot_share
        if responded_by_bot:
            tb = t0 + 1 + int(rnd() * 3)
            tb = max(tb, t)
            msg(tb, "bot", tx["bot_greet"][int(rnd() * len(tx["bot_greet"]))])
            t = tb + int(think_med * lognorm(0.0, 0.6))
            msg(t, "customer", self._text(rng, t, tx["follow"]))
            t += 1
            msg(t, "bot", tx["bot_answer"][int(rnd() * len(tx["bot_answer"]))])
            if rnd() < 0.35:  # the FAQ answer was enough
                t += int(think_med * lognorm(0.0, 0.6))
                if rnd() < 0.5:
                    msg(t, "customer", tx["thanks"][int(rnd() * len(tx["thanks"]))])
                t += 5 + int(rnd() * 60)
                ev(t, "conversation.ended", outcome="resolved")
                self._maybe_rate(rng, ev, t, "resolved", tx, 0.25)
                return
            t += int(think_med * lognorm(0.0, 0.5))
            msg(t, "customer", tx["to_human"][int(rnd() * len(tx["to_human"]))])
            msg(t, "system", tx["sys_queue"][int(rnd() * len(tx["sys_queue"]))])
            wait_start = t
        else:
            wait_start = t0

        if channel == "email":
            wait = first_med * lognorm(0.0, RESPONSE_SIGMA)
        elif rnd() < slow_share:
            wait = first_med * SLOW_FACTOR * mult * lognorm(0.0, SLOW_SIGMA)
        else:
            wait = first_med * lognorm(0.0, FAST_SIGMA)
        wait = max(wait, (t - wait_start) + 1.0)
        if patience < wait:
            # The customer gives up before anyone (human) answers.
            t_left = wait_start + int(patience)
            if t_left <= t:
                t_left = t + 1
            if patience > 40 and rnd() < 0.6:
                tw = max(t, wait_start + int(patience * 0.6))
                msg(tw, "customer", tx["wait_left"][int(rnd() * len(tx["wait_left"]))])
            msg(t_left, "system", tx["sys_left"])
            ev(t_left, "conversation.ended", outcome="abandoned")
            return

        t_reply = wait_start + int(wait)
        t_assign = max(t, wait_start + int(wait * (0.2 + 0.6 * rnd())))
        if channel == "email":
            # E-mail is worked by the day team: mail that comes in at night waits for it.
            t_reply = self._office(t_reply)
            t_assign = max(t, t_reply - int(rnd() * 600))
        agent = pick_agent(t_assign)
        ev(t_assign, "conversation.assigned", agent_id=agent, queue=queue)
        if channel != "phone" and rnd() < 0.5:
            msg(t_assign, "system", tx["sys_join"].replace("{a}", agent))
        t = t_reply
        msg(t, "agent", self._text(rng, t, tx["greet"]).replace("{a}", agent), agent)

        # Next-response cycles: the customer writes, sometimes twice, and the agent answers.
        turns = rng.choices((0, 1, 2, 3, 4, 5, 6), cum_weights=(8, 30, 58, 78, 90, 96, 100))[0]
        transferred = False
        for _ in range(turns):
            t += 2 + int(think_med * lognorm(0.0, 0.8))
            msg(t, "customer", self._text(rng, t, tx["follow"]))
            if rnd() < 0.2:
                t += 3 + int(rnd() * 15)
                msg(t, "customer", self._text(rng, t, tx["more"]))
            if not transferred and rnd() < 0.05:
                transferred = True
                t += 3 + int(rnd() * 20)
                msg(t, "agent", tx["transfer"][int(rnd() * len(tx["transfer"]))], agent)
                to_queue = QUEUES[int(rnd() * len(QUEUES))]
                t += 1 + int(rnd() * 5)
                new_agent = pick_agent(t)
                if rnd() < 0.5:
                    ev(t, "conversation.transferred", from_agent_id=agent, to_agent_id=new_agent,
                       to_queue=to_queue)
                else:  # to a queue first, picked up by someone later
                    ev(t, "conversation.transferred", from_agent_id=agent, to_queue=to_queue)
                    t += 5 + int(rnd() * 40)
                    ev(t, "conversation.assigned", agent_id=new_agent, queue=to_queue)
                msg(t, "system", tx["sys_transfer"].replace("{q}", to_queue))
                agent = new_agent
            t += 1 + int(next_med * mult * lognorm(0.0, RESPONSE_SIGMA))
            if channel == "email":
                t = self._office(t)
            msg(t, "agent", self._text(rng, t, tx["reply"]), agent)

        u = rnd()
        if u < 0.97:
            outcome = "resolved"
            t += 2 + int(rnd() * 20)
            msg(t, "agent", tx["close"][int(rnd() * len(tx["close"]))], agent)
            if rnd() < 0.6:
                t += 2 + int(think_med * lognorm(0.0, 0.6))
                msg(t, "customer", tx["thanks"][int(rnd() * len(tx["thanks"]))])
                if rnd() < 0.5:
                    t += 2 + int(rnd() * 10)
                    msg(t, "agent", tx["welcome"][0], agent)
            t += 5 + int(rnd() * 60)
        elif u < 0.99:
            outcome = "unresolved"
            t += 5 + int(rnd() * 60)
            msg(t, "agent", tx["unresolved"][0], agent)
            t += 5 + int(rnd() * 60)
        else:
            outcome = "timeout"
            t += 60 + int(rnd() * 120)
            msg(t, "agent", tx["still_there"][0], agent)
            t += 300
            msg(t, "system", tx["sys_timeout"])
        ev(t, "conversation.ended", outcome=outcome)
        self._maybe_rate(rng, ev, t, outcome, tx, 0.31)

    @staticmethod
    def _maybe_rate(rng, ev, t, outcome, tx, share) -> None:
        if rng.random() >= share:
            return
        good = outcome == "resolved"
        score = rng.choices(SCORES, cum_weights=SCORE_CUM_GOOD if good else SCORE_CUM_BAD)[0]
        t += 3 + int(rng.random() * 90)
        if rng.random() < 0.2:
            pool = tx["rate_good"] if score >= 4 else tx["rate_bad"]
            ev(t, "conversation.rated", score=score, comment=pool[int(rng.random() * len(pool))])
        else:
            ev(t, "conversation.rated", score=score)

    # -- tickets ---------------------------------------------------------------------------
    def ticket(self, n: int, t0: int, out: list) -> None:
        rng = self.rt
        rnd = rng.random
        lognorm = rng.lognormvariate
        clock = self.clock
        fmt = clock.fmt
        tid = f"TK{n:07d}"
        names, cum = self.ticket_channels
        channel = rng.choices(names, cum_weights=cum)[0]
        customer_id, tier = self._customer(rng)
        names, cum = self.categories
        category = rng.choices(names, cum_weights=cum)[0]
        names, cum = self.priorities
        priority = rng.choices(names, cum_weights=cum)[0]
        if tier == "vip" and priority in ("normal", "low") and rnd() < 0.5:
            priority = "high"
        group = GROUP_OF[category]
        lang = "en" if rnd() < 0.06 else "zh"
        tx = T[lang]
        d_assign, d_first, d_next = TICKET_DELAYS[priority]

        def ev(t: int, typ: str, **fields) -> None:
            d = {"event_id": None, "type": typ, "occurred_at": fmt(t), "ticket_id": tid}
            d.update(fields)
            out.append((t, d))

        def comment(t: int, role: str, public: bool, text: str, author: str | None = None) -> None:
            d = {"event_id": None, "type": "ticket.comment", "occurred_at": fmt(t), "ticket_id": tid,
                 "author_role": role, "public": public}
            if author is not None:
                d["author_id"] = author
            d["text"] = text
            out.append((t, d))

        def on_duty(agent_no: int, t: int) -> int:
            # Agents act on tickets only during their shift: work that falls outside waits
            # for the next shift start (plus the time it takes to get to it).
            s, e = _shift_of(agent_no)
            h = clock.hour(t)
            if (s <= h < e) if s < e else (h >= s or h < e):
                return t
            sod = (t + clock.off) % DAY
            return t + (s * HOUR - sod) % DAY + int(rnd() * 30 * 60)

        def awake(t: int) -> int:
            # Customers rarely answer between 01:00 and 07:00.
            h = clock.hour(t)
            if 1 <= h < 7:
                sod = (t + clock.off) % DAY
                return t + (7 * HOUR - sod) + int(rnd() * 2 * HOUR)
            return t

        def pick_agent(t: int) -> tuple[int, int]:
            for _ in range(25):
                pool = TICKET_AGENTS_BY_HOUR[clock.hour(t)]
                if pool:
                    return pool[int(rnd() * len(pool))], t
                t = t + HOUR - (t + clock.off) % HOUR + int(rnd() * 20 * 60)
            raise AssertionError("no ticket agent on any shift")  # pragma: no cover

        fields = {"channel": channel, "priority": priority, "category": category,
                  "customer_id": customer_id, "customer_tier": tier}
        if channel in CHAT_CHANNELS and self.conversations_started and rnd() < 0.35:
            # Escalated from a recent chat.
            k = self.conversations_started
            fields["conversation_id"] = f"CV{k - 1 - int(rnd() * min(k, 300)):07d}"
        fields["group"] = group
        ev(t0, "ticket.created", **fields)
        comment(t0, "customer", True, self._text(rng, t0, tx["t_desc"][category]))

        agent_no, t = pick_agent(t0 + int(d_assign * lognorm(0.0, 0.9)))
        agent = AGENT_IDS[agent_no - 1]
        ev(t, "ticket.assigned", assignee_id=agent, group=group)
        ev(t, "ticket.status_changed", status="open")
        if rnd() < 0.3:
            t = on_duty(agent_no, t + 60 + int(rnd() * 600))
            comment(t, "agent", False, self._text(rng, t, tx["t_note"]), agent)
        t = on_duty(agent_no, t + int(d_first * lognorm(0.0, 0.8)))
        comment(t, "agent", True, self._text(rng, t, tx["t_first"]), agent)

        if priority != "urgent" and rnd() < (0.12 if category == "complaint" else 0.015):
            t = on_duty(agent_no, t + int(rnd() * 2 * HOUR))
            ev(t, "ticket.priority_changed", priority="urgent")
            comment(t, "agent", False, tx["t_escalate"][0], agent)
            priority = "urgent"
            d_next = TICKET_DELAYS["urgent"][2]
        if rnd() < 0.05:  # handed to a second-line specialist
            agent_no, t = pick_agent(t + 600 + int(rnd() * HOUR))
            agent = AGENT_IDS[agent_no - 1]
            group = "tier2"
            ev(t, "ticket.assigned", assignee_id=agent, group=group)

        # Waiting on the customer: the SLA resolution clock pauses while pending.
        cycles = rng.choices((0, 1, 2), cum_weights=(50, 85, 100))[0]
        for _ in range(cycles):
            t = on_duty(agent_no, t + int(rnd() * HOUR))
            comment(t, "agent", True, self._text(rng, t, tx["t_ask"]), agent)
            ev(t, "ticket.status_changed", status="pending")
            t = awake(t + int(3 * HOUR * lognorm(0.0, 1.0)))
            comment(t, "customer", True, self._text(rng, t, tx["t_cust"]))
            ev(t, "ticket.status_changed", status="open")
            t = on_duty(agent_no, t + int(d_next * lognorm(0.0, 0.8)))
            comment(t, "agent", True, self._text(rng, t, tx["t_reply"]), agent)

        t = on_duty(agent_no, t + int(d_next * lognorm(0.0, 0.9)))
        comment(t, "agent", True, self._text(rng, t, tx["t_solve"]), agent)
        ev(t, "ticket.status_changed", status="solved")
        if rnd() < 0.22:
            tr = t + int(HOUR * lognorm(0.0, 1.2))
            score = rng.choices(SCORES, cum_weights=SCORE_CUM_GOOD)[0]
            ev(tr, "ticket.rated", score=score)
        if rnd() < 0.05:  # reopened by the customer
            t = awake(t + int(5 * HOUR * lognorm(0.0, 1.0)))
            comment(t, "customer", True, self._text(rng, t, tx["t_reopen"]))
            ev(t, "ticket.status_changed", status="open")
            t = on_duty(agent_no, t + int(d_next * lognorm(0.0, 0.8)))
            comment(t, "agent", True, self._text(rng, t, tx["t_reply"]), agent)
            t = on_duty(agent_no, t + int(d_next * lognorm(0.0, 0.9)))
            comment(t, "agent", True, self._text(rng, t, tx["t_solve"]), agent)
            ev(t, "ticket.status_changed", status="solved")
            if rnd() < 0.3:
                score = rng.choices(SCORES, cum_weights=SCORE_CUM_BAD)[0]
                ev(t + int(HOUR * lognorm(0.0, 1.0)), "ticket.rated", score=score,
                   comment=tx["rate_bad"][int(rnd() * len(tx["rate_bad"]))])
        # The helpdesk closes solved tickets automatically one to two days later.
        ev(t + DAY + int(rnd() * DAY), "ticket.status_changed", status="closed")


def _first(item):
    return item[0]


def _event_time_order(cfg: GeneratorConfig) -> Iterator[tuple[int, dict]]:
    """All events of the window, in event-time order (ties: creation order), with ids."""
    off = int(cfg.start.utcoffset().total_seconds())
    clock = _Clock(off)
    start = ceil(cfg.start.timestamp())
    end = start + int(round(cfg.days * DAY))
    world = _World(cfg, clock)
    conv_at = _arrivals(world.rc, start, end, off, cfg.conversations_per_day, CONV_HOURLY)
    ticket_at = _arrivals(world.rt, start, end, off, cfg.tickets_per_day, TICKET_HOURLY)
    arrivals = heapq.merge(((t, 0) for t in conv_at), ((t, 1) for t in ticket_at))

    prefix = f"{cfg.seed}-"
    heap: list[tuple[int, int, dict]] = []
    push, pop = heapq.heappush, heapq.heappop
    seq = 0
    n_conv = n_ticket = 0
    buf: list[tuple[int, dict]] = []
    for t0, kind in arrivals:
        # Everything before this arrival is final: later entities only add events at >= t0.
        while heap and heap[0][0] <= t0:
            t, _, d = pop(heap)
            yield t, d
        buf.clear()
        if kind == 0:
            world.conversation(n_conv, t0, buf)
            n_conv += 1
            world.conversations_started = n_conv
        else:
            world.ticket(n_ticket, t0, buf)
            n_ticket += 1
        # Builders append in causal order, ratings may come out of time order; the sort is
        # stable, so events at the same second keep their causal order.
        buf.sort(key=_first)
        for t, d in buf:
            if t >= end:
                break  # the log ends here; per-entity lists are in time order
            seq += 1
            d["event_id"] = prefix + str(seq)
            push(heap, (t, seq, d))
    while heap:
        t, _, d = pop(heap)
        yield t, d


def generate(cfg: GeneratorConfig) -> Iterator[dict]:
    """Contract-shaped event dicts, in event-time order apart from the configured disorder and
    redeliveries. Each dict is fresh: callers may mutate what they get."""
    events = _event_time_order(cfg)
    dup = cfg.duplicate_rate
    jitter = float(cfg.disorder_seconds)
    if dup <= 0 and jitter <= 0:
        for _, d in events:
            yield d
        return

    # Delivery: each event gets an emit key t + j with 0 <= j <= D and events leave in key
    # order, so an event can only be overtaken by events at most D seconds older than itself.
    # A redelivered copy gets a key between its original's and t + D: it comes after it.
    # Its own random stream, so delivery settings never change the content.
    rng = random.Random(f"{cfg.seed}:delivery")
    rnd = rng.random
    heap: list[tuple[float, int, dict]] = []
    push, pop = heapq.heappush, heapq.heappop
    k = 0
    for t, d in events:
        key = t + jitter * rnd() ** 2  # most events are nearly on time, a few are late
        k += 1
        push(heap, (key, k, d))
        if dup > 0 and rnd() < dup:
            k += 1
            push(heap, (key + (t + jitter - key) * rnd(), k, dict(d)))
        # Nothing later can have a key below t: release everything up to it.
        while heap and heap[0][0] <= t:
            yield pop(heap)[2]
    while heap:
        yield pop(heap)[2]


def generate_jsonl(cfg: GeneratorConfig, path: str | PathLike[str]) -> int:
    """Write `generate(cfg)` as JSON Lines; returns the number of events written."""
    dumps, nl = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    n = 0
    with open(path, "wb") as f:
        for d in generate(cfg):
            f.write(dumps(d, option=nl))
            n += 1
    return n
