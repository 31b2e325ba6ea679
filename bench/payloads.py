"""Jivo webhook bodies for the benches: a realistic ``chat_finished`` of about 3 KB.

The shape follows Jivo's documented ``chat_finished`` webhook (visitor, agents, session with
GeoIP and UTM, page, chat messages). Every ``__N__`` in a template is replaced by the load
generator with a running number, so each event has its own chat id, visitor phone and e-mail
(a new visitor for the CRM) unless ``returning=True`` keeps the visitor fixed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loadgen import MARK

WIDGET_ID = "aB3dE5fGh7"
OPERATOR_EMAIL = "o.petrova@shop-example.ru"  # a user of both emulators' default accounts
_INT_MARK = "__N_INT__"


def chat_finished(
    n: int | str = _INT_MARK, *, returning: bool = False, widget_id: str = WIDGET_ID
) -> dict[str, Any]:
    """One ``chat_finished`` event; ``n`` numbers the chat (and the visitor unless returning)."""
    visitor_n = "0000001" if returning else n
    t0 = 1732444801
    lines = [
        ("visitor", "Здравствуйте! Есть ли диван «Лофт» в сером цвете и сколько идёт доставка?"),
        ("agent", "Добрый день! Да, есть на складе, доставка по Москве 2–3 дня, в регионы до 7."),
        ("visitor", "А в Казань доставляете? И можно ли оплатить при получении картой?"),
        ("agent", "В Казань доставляем, оплата картой курьеру или по ссылке заранее."),
        ("visitor", "Отлично, оставлю телефон, перезвоните пожалуйста после обеда."),
        ("agent", "Передал заявку менеджеру, он перезвонит сегодня до 18:00. Хорошего дня!"),
        ("visitor", "Спасибо! Ещё вопрос: сборка входит в стоимость или оплачивается отдельно?"),
        ("agent", "Сборка бесплатная при заказе от 30 000 ₽, мастер приедет вместе с доставкой."),
    ]
    return {
        "event_name": "chat_finished",
        "chat_id": n,
        "widget_id": widget_id,
        "user_token": f"cust_{visitor_n}",
        "visitor": {
            "name": "Анна Смирнова",
            "email": f"anna.{visitor_n}@mail.ru",
            "phone": f"+7916{visitor_n}",
            "number": "10482",
            "description": "Интересуется доставкой в Казань",
            "social": {},
            "chats_count": 3,
        },
        "agents": [
            {"id": "412587", "name": "Ольга Петрова", "email": OPERATOR_EMAIL},
            {"id": "412590", "name": "Дмитрий Ковалёв", "email": "d.kovalev@shop-example.ru"},
        ],
        "department": {"id": 3, "name": "Отдел продаж"},
        "session": {
            "geoip": {
                "region_code": "48",
                "country": "Russia",
                "country_code": "RU",
                "region": "Moscow",
                "city": "Moscow",
                "latitude": "55.7522",
                "longitude": "37.6156",
                "organization": "PJSC MegaFon",
            },
            "utm": "source=yandex|medium=cpc|campaign=spring_sale|content=ad_3|term=диван",
            "utm_json": {
                "source": "yandex",
                "medium": "cpc",
                "campaign": "spring_sale",
                "content": "ad_3",
                "term": "купить диван",
            },
            "ip_addr": "83.149.21.17",
            "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        },
        "page": {
            "url": "https://shop-example.ru/catalog/divany/?utm_source=yandex",
            "title": "Диваны — купить в Москве | Shop Example",
        },
        "analytics": {"ga": "GA1.2.1456789012.1716200000", "ym": "1716200000123456789"},
        "chat": {
            "messages": [
                {
                    "timestamp": t0 + 40 * i,
                    "type": kind,
                    **({"agent_id": 412587} if kind == "agent" else {}),
                    "message": text,
                }
                for i, (kind, text) in enumerate(lines)
            ],
            "rate": "positive",
            "blacklisted": False,
            "invitation": "Здравствуйте! Подсказать с выбором дивана?",
        },
        "plain_messages": None,
        "html_messages": None,
    }


def template(*, returning: bool = False, widget_id: str = WIDGET_ID) -> bytes:
    """The event as UTF-8 JSON with ``__N__`` where the load generator puts its counter."""
    text = json.dumps(chat_finished(returning=returning, widget_id=widget_id), ensure_ascii=False)
    # The chat id is a JSON number: drop the quotes around its marker.
    text = text.replace(f'"{_INT_MARK}"', MARK.decode()).replace(_INT_MARK, MARK.decode())
    return text.encode()


def body(n: int, *, returning: bool = False, widget_id: str = WIDGET_ID) -> bytes:
    """One concrete body, as the load generator would send it for counter value ``n``."""
    return str(n).encode().join(template(returning=returning, widget_id=widget_id).split(MARK))


def write_template(path: Path, *, returning: bool = False, widget_id: str = WIDGET_ID) -> Path:
    path.write_bytes(template(returning=returning, widget_id=widget_id))
    return path
