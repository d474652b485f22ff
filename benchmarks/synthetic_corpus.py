"""A synthetic news corpus: articles in en/ru/uk that share statements, with page noise.

Outlets write in one language each. Every article covers one event: most of its sentences are
statements that other outlets about the same event carry too (news repeats itself, word for
word within a language), the rest are its own. Page furniture (share counters, dates, visitor
boxes) sits between paragraphs, as in scraped pages. Same seed, same files.
"""

from __future__ import annotations

import argparse
import logging
import random
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# Parallel word lists: index i means the same thing in every language.
ACTORS = {
    "en": ["The ministry", "Officials", "The governor", "Police", "The mayor", "Rescuers",
           "The army", "Witnesses", "The company", "Doctors"],
    "ru": ["Министерство", "Чиновники", "Губернатор", "Полиция", "Мэр", "Спасатели",
           "Армия", "Свидетели", "Компания", "Врачи"],
    "uk": ["Міністерство", "Посадовці", "Губернатор", "Поліція", "Мер", "Рятувальники",
           "Армія", "Свідки", "Компанія", "Лікарі"],
}  # fmt: skip
ACTIONS = {
    "en": ["said that {n} people were evacuated from {place}",
           "confirmed that {n} houses in {place} lost power",
           "reported that the water in {place} is safe to drink",
           "announced that {n} schools in {place} will stay closed",
           "warned that the bridge near {place} may collapse",
           "stated that {n} soldiers arrived in {place}",
           "denied that the factory in {place} was damaged",
           "promised to rebuild {n} roads around {place}",
           "said that {n} families near {place} received food aid",
           "reported a fire at an oil depot near {place}",
           "ordered {n} buses to leave {place}",
           "opened {n} shelters for residents of {place}",
           "said the airport of {place} will reopen in {n} days",
           "estimated the damage around {place} at {n} million dollars",
           "said {n} patients were moved out of the hospital of {place}",
           "arrested {n} looters on the outskirts of {place}",
           "sent {n} tonnes of drinking water to the people of {place}",
           "cancelled all trains from {place}",
           "said the mobile network near {place} was restored for {n} subscribers",
           "counted {n} damaged cars in the centre of {place}",
           "imposed a curfew in the district of {place}",
           "found {n} unexploded shells in the fields of {place}",
           "asked {n} volunteers to help clean the streets of {place}",
           "said the grain harvest of {place} fell by {n} tonnes"],
    "ru": ["заявили, что из {place} эвакуировали {n} человек",
           "подтвердили, что {n} домов в {place} остались без света",
           "сообщили, что вода в {place} безопасна для питья",
           "объявили, что {n} школ в {place} останутся закрытыми",
           "предупредили, что мост возле {place} может обрушиться",
           "заявили, что в {place} прибыли {n} солдат",
           "опровергли, что завод в {place} был повреждён",
           "пообещали восстановить {n} дорог вокруг {place}",
           "сообщили, что {n} семей возле {place} получили продуктовую помощь",
           "сообщили о пожаре на нефтебазе возле {place}",
           "приказали {n} автобусам выехать из {place}",
           "открыли {n} укрытий для жителей {place}",
           "заявили, что аэропорт {place} откроется через {n} дней",
           "оценили ущерб вокруг {place} в {n} миллионов долларов",
           "сообщили, что {n} пациентов вывезли из больницы {place}",
           "задержали {n} мародёров на окраине {place}",
           "отправили {n} тонн питьевой воды для жителей {place}",
           "отменили все поезда из {place}",
           "сообщили, что мобильную связь возле {place} восстановили для {n} абонентов",
           "насчитали {n} повреждённых машин в центре {place}",
           "ввели комендантский час в районе {place}",
           "нашли {n} неразорвавшихся снарядов на полях {place}",
           "попросили {n} волонтёров помочь убрать улицы {place}",
           "заявили, что урожай зерна {place} упал на {n} тонн"],
    "uk": ["заявили, що з {place} евакуювали {n} людей",
           "підтвердили, що {n} будинків у {place} залишилися без світла",
           "повідомили, що вода у {place} безпечна для пиття",
           "оголосили, що {n} шкіл у {place} залишаться зачиненими",
           "попередили, що міст біля {place} може обвалитися",
           "заявили, що до {place} прибули {n} солдатів",
           "спростували, що завод у {place} був пошкоджений",
           "пообіцяли відбудувати {n} доріг навколо {place}",
           "повідомили, що {n} родин біля {place} отримали продуктову допомогу",
           "повідомили про пожежу на нафтобазі біля {place}",
           "наказали {n} автобусам виїхати з {place}",
           "відкрили {n} укриттів для мешканців {place}",
           "заявили, що аеропорт {place} відкриється через {n} днів",
           "оцінили збитки навколо {place} у {n} мільйонів доларів",
           "повідомили, що {n} пацієнтів вивезли з лікарні {place}",
           "затримали {n} мародерів на околиці {place}",
           "надіслали {n} тонн питної води для мешканців {place}",
           "скасували всі поїзди з {place}",
           "повідомили, що мобільний зв'язок біля {place} відновили для {n} абонентів",
           "нарахували {n} пошкоджених автомобілів у центрі {place}",
           "запровадили комендантську годину в районі {place}",
           "знайшли {n} нерозірваних снарядів на полях {place}",
           "попросили {n} волонтерів допомогти прибрати вулиці {place}",
           "заявили, що врожай зерна {place} впав на {n} тонн"],
}  # fmt: skip
PLACES = {
    "en": ["Kherson", "Odesa", "Kharkiv", "Dnipro", "Mykolaiv", "Zaporizhzhia", "Sumy", "Lviv",
           "Poltava", "Chernihiv", "Vinnytsia", "Zhytomyr", "Rivne", "Uzhhorod", "Kramatorsk",
           "Izium"],
    "ru": ["Херсона", "Одессы", "Харькова", "Днепра", "Николаева", "Запорожья", "Сум", "Львова",
           "Полтавы", "Чернигова", "Винницы", "Житомира", "Ровно", "Ужгорода", "Краматорска",
           "Изюма"],
    "uk": ["Херсона", "Одеси", "Харкова", "Дніпра", "Миколаєва", "Запоріжжя", "Сум", "Львова",
           "Полтави", "Чернігова", "Вінниці", "Житомира", "Рівного", "Ужгорода", "Краматорська",
           "Ізюма"],
}  # fmt: skip
WHEN = {
    "en": ["on Monday", "on Tuesday", "late on Wednesday", "on Thursday morning", "on Friday"],
    "ru": ["в понедельник", "во вторник", "поздно в среду", "в четверг утром", "в пятницу"],
    "uk": ["у понеділок", "у вівторок", "пізно в середу", "у четвер вранці", "у п'ятницю"],
}
NOISE = {
    "en": ["Share this article", "Subscribe to our newsletter", "{n} visitors online",
           "Read also: the week in review", "{n} {m} {k}", "November {d}, 2024"],
    "ru": ["Поделиться", "Подпишитесь на нашу рассылку", "{n} посетителей онлайн",
           "Читайте также: итоги недели", "{n} {m} {k}", "{d} ноября 2024"],
    "uk": ["Поділитися", "Підпишіться на нашу розсилку", "{n} відвідувачів онлайн",
           "Читайте також: підсумки тижня", "{n} {m} {k}", "{d} листопада 2024"],
}  # fmt: skip
OUTLETS = {
    "en": ["wire-en", "daily-en", "herald-en"],
    "ru": ["vesti-ru", "gazeta-ru", "kontinent-ru"],
    "uk": ["pravda-uk", "novyny-uk", "vilne-uk"],
}

SENTENCES_PER_ARTICLE = 12
SHARED_SHARE = 0.6  # of an article's sentences, statements that other outlets carry too
STATEMENTS_PER_EVENT = 15


@dataclass(frozen=True)
class Statement:
    """A language-independent fact: which actor, action, place, number and time."""

    actor: int
    action: int
    place: int
    number: int
    when: int

    def text(self, lang: str) -> str:
        action = ACTIONS[lang][self.action].format(n=self.number, place=PLACES[lang][self.place])
        return f"{ACTORS[lang][self.actor]} {action} {WHEN[lang][self.when]}."


def _statement(rng: random.Random) -> Statement:
    return Statement(
        rng.randrange(len(ACTORS["en"])),
        rng.randrange(len(ACTIONS["en"])),
        rng.randrange(len(PLACES["en"])),
        rng.randrange(2, 5000),
        rng.randrange(len(WHEN["en"])),
    )


def _noise(lang: str, rng: random.Random) -> tuple[str, str]:
    """A line of page furniture in `lang`, and the same line in English."""
    which = rng.randrange(len(NOISE[lang]))
    values = {"n": rng.randrange(10, 9999), "m": rng.randrange(1, 99), "k": rng.randrange(1, 9),
              "d": rng.randrange(1, 29)}  # fmt: skip
    return NOISE[lang][which].format(**values), NOISE["en"][which].format(**values)


def article_text(lang: str, event: list[Statement], rng: random.Random) -> tuple[str, dict]:
    """One article about `event`: shared and own statements in paragraphs, noise between.

    Also returns the English of each of its sentences and noise lines (the reference
    translation), keyed by the text as written.
    """
    shared = round(SENTENCES_PER_ARTICLE * SHARED_SHARE)
    statements = rng.sample(event, shared) + [
        _statement(rng) for _ in range(SENTENCES_PER_ARTICLE - shared)
    ]
    rng.shuffle(statements)
    english = {s.text(lang): s.text("en") for s in statements}
    noise, noise_english = _noise(lang, rng)
    lines = [noise]
    english[noise] = noise_english
    for start in range(0, len(statements), 3):
        lines.append(" ".join(s.text(lang) for s in statements[start : start + 3]))
        if rng.random() < 0.5:
            noise, noise_english = _noise(lang, rng)
            lines.append(noise)
            english[noise] = noise_english
    return "\n\n".join(lines) + "\n", english


def write_corpus(
    folder: Path, articles: int, seed: int = 0, first: int = 0, reference: Path | None = None
) -> list[Path]:
    """Write articles number `first` .. `first + articles - 1` under `folder`/<outlet>/.

    Article i depends only on (seed, i), so a corpus of 1,000 plus article 1,000 is exactly the
    corpus of 1,001. With `reference`, the English of every Russian and Ukrainian sentence is
    appended there as `text<TAB>english` lines.
    """
    events = max(1, (first + articles) // 20)
    event_rng = random.Random(f"{seed}-events")
    pool = [[_statement(event_rng) for _ in range(STATEMENTS_PER_EVENT)] for _ in range(events)]
    langs = sorted(OUTLETS)
    paths = []
    translations: dict[str, str] = {}
    for number in range(first, first + articles):
        rng = random.Random(f"{seed}-article-{number}")
        lang = langs[number % len(langs)]
        outlet = rng.choice(OUTLETS[lang])
        event = pool[rng.randrange(len(pool))]
        path = folder / outlet / f"article-{number:06d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        text, english = article_text(lang, event, rng)
        path.write_text(text, encoding="utf-8")
        paths.append(path)
        if lang != "en":
            translations.update(english)
    if reference is not None:
        with reference.open("a", encoding="utf-8") as handle:
            handle.writelines(f"{text}\t{english}\n" for text, english in translations.items())
    log.info("wrote %d articles under %s", articles, folder)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--articles", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write_corpus(args.folder, args.articles, args.seed)


if __name__ == "__main__":
    main()
