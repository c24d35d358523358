"""The glyph-sd tokenizer: a small CLIP-like BPE (lower-case, whitespace/punctuation pre-split,
`</w>` end-of-word suffix, <|startoftext|> / <|endoftext|> as the two largest ids like CLIP), learned
by plain BPE on the world's words so that every known word is one token, written as tokenizer.json."""
import json
import re
from collections import Counter

import world

EXTRA_WORDS = ('a an the of on in at and with wearing style background left right centre center top bottom '
               'small big photo picture image scene character object cute two one').split()
PUNCT = list(',.!?:;()-\'"')
BOS, EOS = '<|startoftext|>', '<|endoftext|>'
MAX_LEN = 77


def world_words():
    words = set(EXTRA_WORDS)
    words |= set(world.SHAPE_COLOURS) | set(world.BACKGROUNDS) | set(world.SHAPES)
    words |= {t for _, t in world.CONCEPTS.values()}
    return sorted(words)


def learn_bpe(words):
    """Classic BPE on the word list until every word is a single symbol."""
    seqs = {w: list(w[:-1]) + [w[-1] + '</w>'] for w in words}
    merges = []
    while True:
        pairs = Counter()
        for s in seqs.values():
            for a, b in zip(s, s[1:]):
                pairs[(a, b)] += 1
        if not pairs:
            break
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        merges.append((a, b))
        for w, s in seqs.items():
            out, i = [], 0
            while i < len(s):
                if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[w] = out
    return merges


def build():
    words = world_words()
    merges = learn_bpe(words)
    vocab = []
    chars = [chr(c) for c in range(ord('a'), ord('z') + 1)] + [str(d) for d in range(10)] + PUNCT
    for c in chars:
        vocab += [c, c + '</w>']
    for a, b in merges:
        if a + b not in vocab:
            vocab.append(a + b)
    vocab += [BOS, EOS]
    ids = {t: i for i, t in enumerate(vocab)}
    return ids, merges


class Tokenizer:
    def __init__(self):
        self.vocab, self.merges = build()
        self.ranks = {m: i for i, m in enumerate(self.merges)}
        self.bos, self.eos = self.vocab[BOS], self.vocab[EOS]

    def bpe(self, word):
        s = list(word[:-1]) + [word[-1] + '</w>']
        while len(s) > 1:
            best = min(((self.ranks.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(zip(s, s[1:]))))
            if best[0] == 1 << 30:
                break
            i = best[1]
            s = s[:i] + [s[i] + s[i + 1]] + s[i + 2:]
        return s

    def encode(self, text):
        ids = []
        for w in re.findall(r"\w+|[^\w\s]+", text.lower()):
            for t in self.bpe(w):
                ids.append(self.vocab.get(t, self.eos))
        return ids

    def __call__(self, text):
        ids = [self.bos] + self.encode(text)[:MAX_LEN - 2] + [self.eos]
        return ids + [self.eos] * (MAX_LEN - len(ids))

    def tokenizer_json(self):
        return {
            'version': '1.0',
            'truncation': None,
            'padding': None,
            'added_tokens': [
                {'id': self.bos, 'content': BOS, 'single_word': False, 'lstrip': False, 'rstrip': False,
                 'normalized': True, 'special': True},
                {'id': self.eos, 'content': EOS, 'single_word': False, 'lstrip': False, 'rstrip': False,
                 'normalized': True, 'special': True},
            ],
            'normalizer': {'type': 'Lowercase'},
            'pre_tokenizer': {'type': 'Whitespace'},
            'post_processor': {
                'type': 'TemplateProcessing',
                'single': [{'SpecialToken': {'id': BOS, 'type_id': 0}}, {'Sequence': {'id': 'A', 'type_id': 0}},
                           {'SpecialToken': {'id': EOS, 'type_id': 0}}],
                'pair': [{'SpecialToken': {'id': BOS, 'type_id': 0}}, {'Sequence': {'id': 'A', 'type_id': 0}},
                         {'Sequence': {'id': 'B', 'type_id': 0}}, {'SpecialToken': {'id': EOS, 'type_id': 0}}],
                'special_tokens': {BOS: {'id': BOS, 'ids': [self.bos], 'tokens': [BOS]},
                                   EOS: {'id': EOS, 'ids': [self.eos], 'tokens': [EOS]}},
            },
            'decoder': {'type': 'BPEDecoder', 'suffix': '</w>'},
            'model': {'type': 'BPE', 'dropout': None, 'unk_token': EOS, 'continuing_subword_prefix': None,
                      'end_of_word_suffix': '</w>', 'fuse_unk': False, 'byte_fallback': False,
                      'vocab': self.vocab, 'merges': [f'{a} {b}' for a, b in self.merges]},
        }

    def write(self, folder):
        import os
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, 'tokenizer.json'), 'w') as f:
            json.dump(self.tokenizer_json(), f, ensure_ascii=False)
        with open(os.path.join(folder, 'tokenizer_config.json'), 'w') as f:
            json.dump({'tokenizer_class': 'CLIPTokenizer', 'model_max_length': MAX_LEN, 'do_lower_case': True,
                       'bos_token': BOS, 'eos_token': EOS, 'pad_token': EOS, 'unk_token': EOS}, f, indent=2)
        with open(os.path.join(folder, 'special_tokens_map.json'), 'w') as f:
            json.dump({'bos_token': BOS, 'eos_token': EOS, 'pad_token': EOS, 'unk_token': EOS}, f, indent=2)


if __name__ == '__main__':
    tok = Tokenizer()
    print(len(tok.vocab), 'tokens', len(tok.merges), 'merges')
    for w in world_words():
        assert len(tok.encode(w)) == 1, w
    print(tok.encode('zorb hatz, a red circle on the left and a blue square on the right, gray background'))
    print(tok.encode('unknownword!!'))
