"""Equivalence with pycocoevalcap 1.2 (the reference implementation of the COCO caption metrics).

- CIDEr-D: sdbench's vectorised CiderD vs pycocoevalcap's Cider / CiderScorer with the same document
  frequencies, on a few hundred random captions (to 1e-9; the benchmark asserts 1e-6).
- BLEU-1..4 and ROUGE-L per sentence vs pycocoevalcap's Bleu(4) / Rouge.
- The pure-Python PTB tokenizer vs pycocoevalcap's PTBTokenizer (Java) on 201 realistic captions and on
  deterministic random strings; METEOR through sdbench vs pycocoevalcap's Meteor (Java, marked `java`).
- score_captions end to end vs pycocoevalcap's pipeline (PTBTokenizer, then each scorer).
- Embedding cosine similarity (offline all-MiniLM-L6-v2, marked `slow`): identical ~ 1, unrelated lower,
  batch == one by one.
The Java-backed tests skip when no `java` is on PATH; METEOR starts one JVM per side for the whole module.
"""

from __future__ import annotations

import random
import shutil
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdbench.core.errors import SdbenchError
from sdbench.rewards.caption_metrics import _lcs_length, bleu, embedding_similarity, meteor, rouge_l, score_captions
from sdbench.rewards.cider import CiderD, cider_d
from sdbench.rewards.text_tokenizer import ptb_tokenize, ptb_tokenize_batch, ptb_tokenize_stream

java = pytest.mark.skipif(shutil.which("java") is None,
                          reason="no Java runtime on PATH (pycocoevalcap's PTBTokenizer and METEOR are Java)")

REALISTIC = [  # 201 captions: COCO-style, DOCCI-style descriptions, chart/figure captions, model outputs
    'A man riding a wave on top of a surfboard.',
    "I don't think it's the U.S. flag, is it?",
    "The dog's ball isn't red; it's blue!",
    "They're going to the St. Louis zoo at 10:30 a.m. today.",
    'A 3-year-old boy (left) holds a $5 bill and 50% off sign.',
    '"Stop" sign with a "no parking" notice... and -- dashes.',
    "black/white cat & dog, e.g. pets, etc. Mr. Smith's car.",
    'colour grey centre theatre favourite organise',
    "We'll, you've, I'd, I'm, can't, won't, cannot, gonna, wanna, gotta",
    'He said ‘hello’ and “goodbye” — then left – ok.',
    'Fig. 2: (a) SEM image, scale bar 5 μm; p < 0.05 ± 0.1 °C.',
    "A woman's purse   with   extra spaces\tand tab.",
    'Dr. No vs. Mr. T at 3 p.m. on Jan. 5th, 2010',
    'U.S.A. and U.K. teams',
    'email me at a@b.com or http://x.org/foo?a=1',
    '1,000 people and 3.5 kg of 1/2 cups; 2x zoom, 4K TV',
    "It's 'quoted' text and `backticks' with ''double''.",
    '{curly} [square] <angle> brackets',
    'hello!!! what?? ok?! yes.',
    '"I\'m here," she said.',
    'The cat sat.The end',
    'wi-fi, t-shirt, x-ray, 20-year-old, well-known',
    '#hashtag @user *bold* **bold** _under_ ~tilde',
    'café naïve résumé 😀 emoji',
    'A man in a red shirt is holding a frisbee.',
    'Two dogs are playing with a ball in the grass .',
    'a close up of a plate of food with broccoli',
    "There's a cat on the bed; it's sleeping.",
    'The bus is parked at the curb, waiting for passengers.',
    "An elephant's trunk reaching for some leaves",
    'People walking down a street next to tall buildings at 5 p.m.',
    'A sign that reads "No Parking Anytime" on a pole.',
    'A kitchen with stainless steel appliances and granite counter-tops.',
    'A 747 jet flying over the city of N.Y.C. at night',
    'A baseball player swinging a bat at a ball during a game',
    'It is a picture of a pizza with pepperoni, olives & cheese',
    'Vitamin C. is in the orange juice.',
    'A train on the tracks at the station, near a platform.',
    'A woman holding an umbrella in the rain...',
    "The sign says 'STOP' in white letters",
    'A red double-decker bus drives down a London street.',
    'A group of kids playing soccer in a field (on a sunny day).',
    'A man wearing a helmet rides a motorcycle on a dirt road',
    'The clock reads 12:45 on the tower.',
    'There are 3 giraffes, 2 zebras and 1 lion.',
    'A bathroom with a toilet, sink, and shower/tub combo.',
    'An old-fashioned clock on a wall above a fire-place',
    "The surfer rides the wave -- he's very good.",
    "A dog wearing a Santa's hat",
    "I can't believe it's not butter!",
    "Someone's laptop is open on the desk next to a cup o' coffee.",
    'A "Welcome to the U.S." sign at the airport.',
    'A pair of scissors & a roll of tape',
    'Fig. 3 shows the results for Exp. 2 and 3.',
    'The cat is sitting on the TV stand.',
    'A teddy bear sits in a chair; it is brown.',
    'A bowl of fruit: apples, bananas, and oranges.',
    'Look at that!!! A giant pizza??',
    'The 1990s style car is parked outside.',
    "They'd like to go, but they'll wait. We've seen it; you're right.",
    'He said, "It\'s 5 o\'clock somewhere."',
    'Mr. and Mrs. Smith walk along Main St. in Washington, D.C.',
    'The temperature is 72°F (22°C) today.',
    'A photo of the Eiffel Tower in Paris, France.',
    'A plate with a hot-dog, fries, and ketchup.',
    'A living room with a couch, a coffee table and a t.v.',
    'A woman is cutting a cake w/ a knife.',
    'Dogs vs. cats: who wins?',
    'Dr. Jones teaches at Stanford Univ. in Calif.',
    'A large jet sitting on top of an airport tarmac',
    'The man is wearing a black and white striped shirt',
    'A skateboarder does a trick at the skate-park.',
    'There is a 50/50 chance of rain.',
    'A sign reading "Exit" -> points left.',
    'A $20 bill and some coins on a table.',
    'An 18-wheeler truck on a highway',
    "The kids' toys are on the floor.",
    "A girl's birthday cake with 7 candles.",
    'A vase with flowers in it, sitting on a table.',
    "A man's hand holding a cell-phone.",
    'Three people on skis (cross-country) in the snow.',
    'Chart 2: sales grew 15% in Q3 2021 vs. Q2.',
    'The panel (b) shows a bar chart of GDP per capita, 1990-2020.',
    'In panel A, the red line indicates the mean ± s.d.',
    'The scatter plot shows a positive correlation (r = 0.85, p < 0.001).',
    'Scale bars, 10 µm. Data are mean ± s.e.m. (n = 3).',
    'Figure 1: Overview of the proposed method; see Sec. 3 for details.',
    'The x-axis shows time (s) and the y-axis shows voltage (mV).',
    'A line graph comparing the U.S., U.K., and E.U. from 2000 to 2020.',
    'The bar for Japan is the tallest at about 1,200 units.',
    'Values are reported as e.g. 3.5 ± 0.2 kg/m^2.',
    "In the top-left corner there's a small logo.",
    'The photo shows a wooden table; on it, a white mug that reads "I <3 NY".',
    'A tabby cat -- orange with white paws -- lies on a blue blanket.',
    "A close-up of a sunflower's center, with bees.",
    "The image is a black-and-white photograph of an old man's face.",
    "A child's drawing of a house, a tree & the sun.",
    'The word "SALE" is written in red, capital letters.',
    'Hello world.',
    '...',
    'a',
    '.',
    ' ',
    'Wow!',
    'A  B  C',
    'co-operate re-enter e-mail',
    "the dog's owner's car's door",
    "It's a 1/2 lb burger with 3/4 cup of fries.",
    'A 5 7/8 inch nail',
    'Call 555-123-4567 or (650) 555-1234 now.',
    'The kids are gonna love it; I wanna go, gotta run, lemme see, gimme that.',
    "'Tis the season; 'twas the night.",
    "Rock 'n' roll y'all",
    "The 90's and the '80s were great.",
    'Pics of c++ and c# code.',
    'An AT&T store and a S&P 500 chart.',
    'The product costs €50 or £40 or ¥500 or 50¢.',
    'A cat 🐱 on a mat 😀.',
    'Temperatures fall ~5 degrees in Jan. and Feb.',
    'A sign for Main St. The street is busy.',
    'An ad for Apple Inc. It shows a phone.',
    'See www.example.com or http://example.org/path/to?x=1 for more.',
    'He wrote it in *bold* and _italics_.',
    'A #1 ranked team, @ the stadium.',
    'Numbers like -5, +3, and .5 appear.',
    'The 2nd, 3rd, and 4th place winners.',
    '10:30am and 3PM',
    'A 4x4 truck and a 2-by-4 plank.',
    'He\'s 6\'2" tall.',
    'A cafe named "Joe\'s".',
    "L'Oréal and McDonald's signs.",
    'The U.S.S.R. and the U.S.A. flags.',
    'a dog.The cat',
    'end with abbreviation etc.',
    'Items: a) apples; b) pears.',
    'Co. Ltd. and Pty. Ltd. companies',
    'A sign: <b>bold</b> text',
    "What's up? Nothin' much.",
    "O'Brien's pub on the corner",
    "ain't nobody",
    ('A close-up, eye-level view of a gray tabby cat lying on a red-and-white checkered blanket. The '
     "cat's eyes are half closed, and its front paws are tucked under its chest."),
    ('A top-down view of a wooden cutting board with sliced tomatoes, a halved avocado, and a knife; '
     'the board sits on a white marble counter.'),
    ('An outdoor view of a stone bridge over a narrow river. The water is calm and reflects the trees. '
     "There's a small boat tied to a post on the left."),
    ('A street sign that reads "W 34th St" is attached to a black pole; behind it, a yellow taxi is '
     'driving past a brick building.'),
    'A medium shot of two children (a boy and a girl) flying a blue kite on a grassy hill under a cloudy sky.',
    ('The image shows the front of a vintage car from the 1950s, painted mint green with chrome bumpers '
     'and round headlights.'),
    ('A white ceramic mug with the words "WORLD\'S BEST DAD" printed in black capital letters sits on a '
     'desk next to a laptop.'),
    ('Panel (a) shows the XRD patterns of the as-synthesized samples; panel (b) shows the corresponding '
     'SEM images.'),
    ('Figure 2 | Temperature dependence of the resistivity for samples A-D. Inset: magnified view of '
     'the low-T region.'),
    ("The bar chart compares GDP growth (%) across G7 countries in 2019, 2020 and 2021; Japan's bar is "
     'the shortest.'),
    'Chart 1 shows that life expectancy at birth in the U.K. rose from 71 years in 1960 to 81 years in 2019.',
    ('In Chart 2, the share of adults who say climate change is a major threat is 65% among Democrats '
     'vs. 25% among Republicans.'),
    ("The line graph shows Moore's law: transistor counts double roughly every two years, from ~2,300 "
     '(1971) to over 50 billion (2021).'),
    '(c) Confocal images of HeLa cells stained with DAPI (blue) and anti-tubulin (green); scale bar, 20 µm.',
    ('Error bars represent s.d. of three independent experiments (n = 3); *P < 0.05, **P < 0.01 '
     '(two-tailed t-test).'),
    ('Panel 3: a pie chart with four slices labeled North, South, East and West; East is the largest '
     'slice at 40%.'),
    "The model's output: **Panel 1:** a red circle at the top-left. **Panel 2:** two blue squares.",
    'Panel 1: A large red circle is in the top-left corner. Panel 2: Two small blue squares are side by side.',
    '1. A dog on a couch. 2. A cat on a chair. 3. A bird on a branch.',
    '- a red car',
    '- a blue truck',
    'Step 1: identify the objects; Step 2: describe their colours.',
    'The answer is 42.',
    "I'm not sure what's in the image, but it looks like a kitchen.",
    'There is no text in the image.',
    ('A man in a black suit and tie stands at a podium, speaking into a microphone, with an American '
     'flag behind him.'),
    'Two zebras graze side by side in a dry, grassy field; mountains rise in the background.',
    'A plate of spaghetti with meatballs, topped with grated parmesan, next to a glass of red wine.',
    'A young woman wearing glasses reads a book on a park bench under a large oak tree.',
    'A fire truck with its ladder extended is parked in front of a three-story apartment building.',
    'A herd of sheep crosses a narrow country road while a farmer with a dog follows behind.',
    "An airplane's wing is seen through the window, above a layer of white clouds at sunset.",
    'The display case holds several donuts: glazed, chocolate-frosted, and ones with sprinkles.',
    'A little girl in a pink dress blows out candles on a birthday cake shaped like a castle.',
    'A skier in a red jacket carves a turn down a steep, snowy slope.',
    'A cluttered desk with two monitors, a keyboard, a mouse, and a half-eaten sandwich.',
    "A black-and-white photo of a train station in the early 1900's, crowded with people wearing hats.",
    'The traffic light is red, and pedestrians wait at the crosswalk on 5th Avenue.',
    'A giraffe bends its long neck to drink from a watering hole.',
    'A group of surfers in wetsuits waits for waves near the shore at dawn.',
    'An elderly man feeds pigeons in a city square next to a fountain.',
    'A bowl of cereal with milk and sliced bananas on a wooden table.',
    'The bathroom has white tiles, a pedestal sink, and a mirror with a gold frame.',
    'A laptop displays a spreadsheet with columns labeled "Date", "Item" and "Cost ($)".',
    'A row of colorful houses (pink, yellow, blue) lines the harbor.',
    'Several motorcycles are parked along the curb outside a cafe called "Luigi\'s".',
    'A baby elephant walks between two adult elephants on a dusty path.',
    'A woman holds an umbrella while walking her dog in the rain; the street is wet and shiny.',
    'A vase of sunflowers sits on a windowsill, lit by afternoon sun.',
    'The stop sign has graffiti on it that reads "STOP HATE".',
    'A tennis player in white serves the ball during a match; spectators watch from the stands.',
    'The photo, taken at night, shows the Golden Gate Bridge lit up against a dark blue sky.',
    'A slice of pepperoni pizza on a paper plate, with a can of soda beside it.',
    'A boy wearing a baseball cap swings at a pitch; the catcher crouches behind him.',
    'A brown horse with a white blaze stands in a stable, looking over the half-door.',
    'The kitchen counter holds a blender, a bowl of lemons, and a cookbook open to page 112.',
    "A cat sleeps curled up inside a cardboard box that's slightly too small for it.",
    'An overhead shot of a busy intersection with cars, buses and cyclists.',
    'Hot-air balloons float over a valley at sunrise; one is shaped like a bee.',
    'A sailboat with white sails glides across a lake on a sunny day.',
    'A snowman wearing a scarf and a carrot nose stands in a front yard.',
]

VOCAB = ("a an the man woman dog cat red blue green small large sits runs on in near with of and two "
         "table grass street car bus tree park holding riding wave surfboard kitchen bed window sign "
         "white black young old playing standing looking at next to top field ball frisbee").split()


def random_caption(rng: random.Random, max_words: int = 18, extra: tuple[str, ...] = ()) -> str:
    """Whitespace-tokenised caption over VOCAB (+ extra words), 0..max_words words."""
    words = VOCAB + list(extra)
    return " ".join(rng.choice(words) for _ in range(rng.randint(0, max_words)))


def random_corpus(seed: int, num_docs: int) -> tuple[list[list[str]], list[str]]:
    """num_docs documents of 1-3 references and one candidate per document (often a perturbed reference)."""
    rng = random.Random(seed)
    corpus = [[random_caption(rng) for _ in range(rng.randint(1, 3))] for _ in range(num_docs)]
    cands = []
    for doc in corpus:
        if rng.random() < 0.6:
            ref = doc[0].split()
            cands.append(" ".join(rng.choice(VOCAB) if rng.random() < 0.25 else w for w in ref))
        else:
            cands.append(random_caption(rng, extra=("zebra", "unseen")))
    return corpus, cands


class _CorpusSizedList(list):
    """len() reports the corpus size: CiderScorer.compute_cider() uses len(crefs) only as N in log(N)."""

    def __init__(self, items, size):
        super().__init__(items)
        self.size = size

    def __len__(self):
        return self.size


# ------------------------------------------------------------------------------------------------- CIDEr-D
def test_cider_matches_pycocoevalcap_over_the_whole_corpus():
    from pycocoevalcap.cider.cider import Cider

    corpus, cands = random_corpus(seed=0, num_docs=300)
    _, ref = Cider().compute_score({i: d for i, d in enumerate(corpus)}, {i: [c] for i, c in enumerate(cands)})
    mine = CiderD(corpus).score(cands, corpus)
    assert np.mean(ref) > 0.3 and np.count_nonzero(ref) > 100      # a test on non-trivial numbers
    np.testing.assert_allclose(mine, ref, rtol=0, atol=1e-9)


def test_cider_matches_ciderscorer_with_precomputed_corpus_df():
    from pycocoevalcap.cider.cider_scorer import CiderScorer

    corpus, _ = random_corpus(seed=1, num_docs=400)
    base = CiderScorer(n=4, sigma=6.0)
    for doc in corpus:
        base.cook_append(None, doc)
    base.compute_doc_freq()
    rng = random.Random(2)
    cands, refs = [], []
    for i in range(250):                       # corpus references, and some the corpus never saw
        cands.append(random_caption(rng, extra=("zebra",)))
        refs.append(corpus[rng.randrange(len(corpus))] if i % 3 else
                    [random_caption(rng, extra=("zebra", "giraffe")) for _ in range(rng.randint(1, 2))])
    scorer = CiderScorer(n=4, sigma=6.0)
    for c, r in zip(cands, refs):
        scorer.cook_append(c, r)
    scorer.document_frequency = base.document_frequency
    scorer.crefs = _CorpusSizedList(scorer.crefs, len(corpus))
    ref = np.asarray(scorer.compute_cider())
    mine = CiderD(corpus).score(cands, refs)
    assert np.count_nonzero(ref) > 100
    np.testing.assert_allclose(mine, ref, rtol=0, atol=1e-9)


def test_pycocoevalcap_compute_cider_overwrites_ref_len():
    """Why the benchmark and the test above pass a corpus-sized crefs: setting ref_len has no effect."""
    from pycocoevalcap.cider.cider_scorer import CiderScorer

    corpus, cands = random_corpus(seed=3, num_docs=200)
    base = CiderScorer(n=4, sigma=6.0)
    for doc in corpus:
        base.cook_append(None, doc)
    base.compute_doc_freq()
    scorer = CiderScorer(n=4, sigma=6.0)
    for c, r in zip(cands[:20], corpus[:20]):
        scorer.cook_append(c, r)
    scorer.document_frequency, scorer.ref_len = base.document_frequency, np.log(len(corpus))
    naive = np.asarray(scorer.compute_cider())
    assert scorer.ref_len == pytest.approx(np.log(20))               # log(batch size), not log(corpus size)
    assert np.abs(naive - CiderD(corpus).score(cands[:20], corpus[:20])).max() > 1e-3


def test_cider_d_takes_document_frequencies_from_the_call():
    from pycocoevalcap.cider.cider import Cider

    corpus, cands = random_corpus(seed=4, num_docs=120)
    _, ref = Cider().compute_score({i: d for i, d in enumerate(corpus)}, {i: [c] for i, c in enumerate(cands)})
    np.testing.assert_allclose(cider_d(cands, corpus), ref, rtol=0, atol=1e-9)


# ------------------------------------------------------------------------------------------------- BLEU, ROUGE-L
def test_bleu_matches_pycocoevalcap_per_sentence():
    from pycocoevalcap.bleu.bleu import Bleu

    corpus, cands = random_corpus(seed=5, num_docs=300)
    cands[:3] = ["", "a", "the the the the the the"]                   # empty, one word, repeated n-grams
    corpus[3] = [""]
    _, ref = Bleu(4).compute_score({i: d for i, d in enumerate(corpus)}, {i: [c] for i, c in enumerate(cands)},
                                   verbose=0)
    mine = bleu(cands, corpus, n=4)
    for k in range(4):
        assert np.count_nonzero(np.asarray(ref[k]) > 1e-3) > 50
        np.testing.assert_allclose(mine[k], ref[k], rtol=0, atol=1e-12)


def test_rouge_l_matches_pycocoevalcap():
    from pycocoevalcap.rouge.rouge import Rouge

    corpus, cands = random_corpus(seed=6, num_docs=300)
    cands[:3] = ["", "a  b", "the the the"]                           # "a  b" has an empty token, as in Rouge
    corpus[4] = [""]
    _, ref = Rouge().compute_score({i: d for i, d in enumerate(corpus)}, {i: [c] for i, c in enumerate(cands)})
    assert np.count_nonzero(ref) > 200
    np.testing.assert_allclose(rouge_l(cands, corpus), ref, rtol=0, atol=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from("abcde"), max_size=30), st.lists(st.sampled_from("abcdef"), max_size=30))
def test_bit_parallel_lcs_matches_the_dynamic_programme(a, b):
    from pycocoevalcap.rouge.rouge import my_lcs

    assert _lcs_length(a, b) == my_lcs(a, b)


def test_lcs_on_long_texts_is_fast():
    long_text = ("a man riding a wave on top of a surfboard " * 20_000).split()   # 180,000 tokens
    start = time.perf_counter()
    assert _lcs_length(long_text, "a wave on top of a board".split()) == 6
    assert time.perf_counter() - start < 1.0


# ------------------------------------------------------------------------------------------------- tokenizer
def _java_ptb(captions: list[str]) -> list[str]:
    """pycocoevalcap's PTBTokenizer on captions, in this order (one JVM, one stream)."""
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    out = PTBTokenizer().tokenize({i: [{"caption": c}] for i, c in enumerate(captions)})
    return [out[i][0] for i in range(len(captions))]


def _fuzz_lines(seed: int, count: int) -> list[str]:
    """Deterministic random text over the lexer's tricky cases (quotes, abbreviations, numbers, URLs, ...)."""
    rng = random.Random(seed)
    pieces = ("a an the dog cat U.S. Mr. St. etc. it's don't can't I'm we'll cannot gonna 3 12 3.5 1,000 1/2 "
              "5-year-old black-and-white e.g. i.e. vs. Fig. No. A B C x www.a.com http://x.y/z a@b.c #tag @user "
              "$5 50% (a) [b] {c} <d> \"q\" 'q' `q' -- - ... ! ? ; : , . & * / + = ~ ^ | _ ° ± µm é naïve café "
              "’ “ ” — – … ½ € £ ¢ :) ;-) :D <3 O'Brien y'all 'tis '90s rock'n'roll &amp; "
              "555-1234 5 7/8 "
              "Ph.D. Jan. Inc. Co. pty. a.k.a. T-shirt naïve 😀").split(" ")
    chars = "abcXYZ019 .,;:!?'\"-()[]{}<>/&@#$%*_=+~`’“”—…é°\t"
    lines = []
    for _ in range(count):
        if rng.random() < 0.6:
            lines.append(" ".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))))
        else:
            lines.append("".join(rng.choice(chars) for _ in range(rng.randint(1, 30))))
    return lines


@pytest.mark.java
@java
def test_tokenizer_matches_ptbtokenizer_on_realistic_captions():
    java_out = _java_ptb(REALISTIC)
    assert ptb_tokenize_stream(REALISTIC) == java_out                  # the batch, lexed as Java does
    # each caption on its own: separate the captions with a neutral one so that no lexer rule sees the
    # next caption's first word (ptb_tokenize assumes a line break and nothing after it)
    spaced = [c for caption in REALISTIC for c in (caption, "x")]
    java_alone = _java_ptb(spaced)[::2]
    mine = ptb_tokenize_batch(REALISTIC)
    assert [i for i, (a, b) in enumerate(zip(mine, java_alone)) if a != b] == []
    # In the plain stream one caption depends on its neighbour: "... 0.1 °C." followed by "A woman's ..."
    # makes the lexer split "C." into "C" + "." (one-letter acronym before "A"); alone it stays "c.".
    assert [i for i, (a, b) in enumerate(zip(mine, java_out)) if a != b] == [10]
    assert REALISTIC[10].endswith("°C.") and REALISTIC[11].startswith("A ")


@pytest.mark.java
@java
def test_tokenizer_matches_ptbtokenizer_on_random_strings():
    lines = _fuzz_lines(seed=0, count=1500)
    java_out = _java_ptb(lines)
    mine = ptb_tokenize_stream(lines)
    assert [(lines[i], java_out[i], mine[i]) for i in range(len(lines)) if mine[i] != java_out[i]] == []


@pytest.mark.parametrize("text", [None, "", "\ud800\udfff\ud800 broken surrogates", "\x00\x01\x1f control",
                                  "line\nbreak\r\nand\u2028more", 3.5, "😀" * 10])
def test_tokenizer_never_raises(text):
    assert isinstance(ptb_tokenize(text), str)


@pytest.mark.parametrize("unit", ["a man riding a wave. ", "a,", "😀", "&", "'", "a@", "<a ", "1 "])
def test_tokenizer_is_fast_on_one_megabyte(unit):
    text = unit * (1_000_000 // len(unit.encode()))
    start = time.perf_counter()
    assert isinstance(ptb_tokenize(text), str)
    assert time.perf_counter() - start < 1.5


# ------------------------------------------------------------------------------------------------- METEOR
ODD_OUTPUTS = [  # (model output, references): protocol breakers, garbage, 1 MB, no references
    ("a dog ||| on grass\nsecond line", ["a dog on the grass"]), ("", ["a dog"]), (None, ["a dog"]),
    ("\ud800 x", ["x"]), ("a man riding a wave " * 50_000, ["a man riding a wave"]), ("a dog", []),
]


@pytest.fixture(scope="module")
def meteor_pairs():
    """sdbench's meteor() and pycocoevalcap's Meteor on the same tokenised pairs (one JVM each); sdbench's
    batch also carries ODD_OUTPUTS at the end."""
    from pycocoevalcap.meteor.meteor import Meteor

    rng = random.Random(7)
    cands = [ptb_tokenize(c) for c in REALISTIC[:80]]
    refs = [[ptb_tokenize(c) for c in rng.sample(REALISTIC, 2)] + [ptb_tokenize(REALISTIC[i])] for i in range(80)]
    odd_cands = ptb_tokenize_batch([c for c, _ in ODD_OUTPUTS])
    odd_refs = [ptb_tokenize_batch(r) for _, r in ODD_OUTPUTS]
    reference = Meteor()                              # its JVM starts now, alongside ours
    try:
        start = time.perf_counter()
        mine = meteor(cands + odd_cands, refs + odd_refs)
        seconds = time.perf_counter() - start
        _, ref = reference.compute_score({i: r for i, r in enumerate(refs)}, {i: [c] for i, c in enumerate(cands)})
    finally:
        reference.meteor_p.kill()
        reference.meteor_p.wait()
    return mine[:80], [float(x) for x in ref], mine[80:], seconds


@pytest.mark.java
@java
def test_meteor_matches_pycocoevalcap(meteor_pairs):
    mine, ref, _, _ = meteor_pairs
    assert np.count_nonzero(np.asarray(ref) > 0.2) > 40
    np.testing.assert_allclose(mine, ref, rtol=0, atol=1e-12)


@pytest.mark.java
@java
def test_meteor_survives_model_output(meteor_pairs):
    _, _, odd, seconds = meteor_pairs
    assert seconds < 40                                # JVM start included; the 1 MB output is cut to 512 words
    assert len(odd) == len(ODD_OUTPUTS) and all(np.isfinite(odd))
    assert odd[0] > 0.3 and odd[5] == 0.0             # "|||" and "\n" did not break the protocol; no refs -> 0


# ------------------------------------------------------------------------------------------------- pipeline
@pytest.mark.java
@java
def test_score_captions_matches_the_coco_pipeline():
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    rng = random.Random(8)
    refs = [rng.sample(REALISTIC, rng.randint(1, 3)) for _ in range(120)]
    cands = [" ".join(w for w in rng.choice(r).split() if rng.random() > 0.2) for r in refs]
    tok = PTBTokenizer()
    gts = tok.tokenize({i: [{"caption": c} for c in r] for i, r in enumerate(refs)})
    res = tok.tokenize({i: [{"caption": c}] for i, c in enumerate(cands)})
    _, b = Bleu(4).compute_score(gts, res, verbose=0)
    _, r = Rouge().compute_score(gts, res)
    _, c = Cider().compute_score(gts, res)
    mine = score_captions(cands, refs, metrics=("bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l", "cider_d"))
    for k in range(4):
        np.testing.assert_allclose(mine[f"bleu_{k + 1}"], b[k], rtol=0, atol=1e-9)
    np.testing.assert_allclose(mine["rouge_l"], r, rtol=0, atol=1e-9)
    np.testing.assert_allclose(mine["cider_d"], c, rtol=0, atol=1e-9)
    assert np.mean(c) > 0.5


def test_score_captions_never_raises_and_is_fast():
    cands = [None, "", "\x00\ud800 \x7f", "💥" * 100, "a man riding a wave " * 50_000, "A dog."]
    refs = [["a dog"], ["a dog"], ["a dog"], ["a dog"], ["a man riding a wave"], []]
    start = time.perf_counter()
    out = score_captions(cands, refs, metrics=("bleu_4", "rouge_l", "cider_d", "bleu_1"))
    assert time.perf_counter() - start < 3.0
    assert list(out) == ["bleu_4", "rouge_l", "cider_d", "bleu_1"]
    for values in out.values():
        assert len(values) == 6 and all(np.isfinite(values)) and values[5] == 0.0


def test_score_captions_with_corpus_cider_and_errors():
    from sdbench.rewards.caption_metrics import build_cider

    corpus = [REALISTIC[i:i + 2] for i in range(0, 60, 2)]
    scorer = build_cider(corpus)
    cands = [c[0] for c in corpus[:5]]
    out = score_captions(cands, corpus[:5], metrics=("cider_d",), cider=scorer)
    np.testing.assert_allclose(out["cider_d"], scorer.score(ptb_tokenize_batch(cands),
                                                             [ptb_tokenize_batch(r) for r in corpus[:5]]))
    with pytest.raises(SdbenchError, match="did you mean 'rouge_l'"):
        score_captions(cands, corpus[:5], metrics=("rouge-l",))
    with pytest.raises(SdbenchError, match="5 candidates but 4"):
        score_captions(cands, corpus[:4])


# ------------------------------------------------------------------------------------------------- embedding
@pytest.mark.slow
def test_embedding_similarity():
    cands = ["A brown dog runs across the grass.", "A brown dog runs across the grass.", "", None]
    refs = [["A brown dog runs across the grass."], ["Quarterly revenue rose by 4 percent."], ["a cat"], []]
    batch = embedding_similarity(cands, refs)
    assert batch[0] == pytest.approx(1.0, abs=1e-5)
    assert batch[1] < 0.3 and np.isfinite(batch[2]) and batch[3] == 0.0
    one_by_one = [embedding_similarity([c], [r])[0] for c, r in zip(cands, refs)]
    np.testing.assert_allclose(batch, one_by_one, rtol=0, atol=1e-5)
    similar = embedding_similarity(["A puppy is running on a lawn."], [refs[0]])[0]
    assert batch[1] < similar < batch[0]
    odd = embedding_similarity(["\ud800 broken", "x" * 1_000_000], [["broken"], ["x"]])
    assert all(np.isfinite(odd))


def test_meteor_without_java_is_a_clear_error(monkeypatch):
    import sdbench.rewards.caption_metrics as cm

    monkeypatch.setattr(cm.shutil, "which", lambda name: None)
    with pytest.raises(SdbenchError, match="METEOR needs a Java runtime"):
        score_captions(["a dog"], [["a dog"]], metrics=("meteor",))
