#!/usr/bin/env python3
"""PyTorch CPU baseline for `starling bench train`.

Times LoRA training steps (forward, backward, gradient clipping, AdamW on the adapter
parameters only) of a randomly initialised GPT-2 of the same shape, LoRA rank 4, alpha
32, dropout 0.1 on the same four projections (attn.c_attn, attn.c_proj, mlp.c_fc,
mlp.c_proj), the same thread count and random token ids. Prints one JSON object.

Two models:
- `--impl plain` (the fastest PyTorch we know for this): GPT-2 written out in torch over
  flat tensors — fused qkv, F.scaled_dot_product_attention with is_causal, tanh GELU,
  the lm_head tied to the token embedding — the base frozen (requires_grad False, so
  autograd keeps only what the adapter's gradients need); `--compile` adds
  torch.compile.
- `--impl hf`: Hugging Face GPT2LMHeadModel with PEFT LoRA.

    python3 tools/bench_torch_lora.py --impl plain --threads 2
    python3 tools/bench_torch_lora.py --impl hf --threads 2
    python3 tools/bench_torch_lora.py --family llama --rank 8 --threads 2   # SmolLM-135M (HF + PEFT), LoRA on q, k, v, o

Needs torch (and transformers and peft for `--impl hf`); used only for comparison,
never by the build.
"""

import argparse
import json
import math
import os
import time

# On a machine shared with other jobs, OpenMP's default of spinning while it waits for
# work costs PyTorch up to 100× (measured on 2 shared cores); sleeping is its fastest
# setting there. Read when torch loads, so set before the import; an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


class PlainLoRAGPT2(torch.nn.Module):
    """GPT-2 over flat frozen tensors with a LoRA pair (A (r,in), B (out,r)) on each of the four projections."""

    def __init__(self, layers, heads, width, vocab, seq, rank, alpha, dropout):
        super().__init__()
        self.heads, self.scale, self.dropout = heads, alpha / rank, dropout
        C = width

        def frozen(*shape, std=0.02):
            return torch.nn.Parameter(torch.randn(*shape) * std, requires_grad=False)

        def zeros(*shape):
            return torch.nn.Parameter(torch.zeros(*shape), requires_grad=False)

        def ones(*shape):
            return torch.nn.Parameter(torch.ones(*shape), requires_grad=False)

        self.wte, self.wpe = frozen(vocab, C), frozen(seq, C)
        self.lnf_w, self.lnf_b = ones(C), zeros(C)
        self.blocks = torch.nn.ModuleList()
        for _ in range(layers):
            block = torch.nn.Module()
            block.ln1_w, block.ln1_b, block.ln2_w, block.ln2_b = ones(C), zeros(C), ones(C), zeros(C)
            # Weights stored (out, in) as F.linear wants them.
            for name, (fan_in, fan_out) in {"qkv": (C, 3 * C), "proj": (C, C), "fc": (C, 4 * C), "fc_proj": (4 * C, C)}.items():
                setattr(block, name + "_w", frozen(fan_out, fan_in))
                setattr(block, name + "_b", zeros(fan_out))
                a = torch.empty(rank, fan_in)
                torch.nn.init.kaiming_uniform_(a, a=math.sqrt(5))
                setattr(block, name + "_A", torch.nn.Parameter(a))
                setattr(block, name + "_B", torch.nn.Parameter(torch.zeros(fan_out, rank)))
            self.blocks.append(block)

    def linear(self, block, name, x):
        base = F.linear(x, getattr(block, name + "_w"), getattr(block, name + "_b"))
        xd = F.dropout(x, self.dropout, self.training)
        return base + self.scale * F.linear(F.linear(xd, getattr(block, name + "_A")), getattr(block, name + "_B"))

    def forward(self, ids):
        B, T = ids.shape
        C = self.wte.shape[1]
        x = self.wte[ids] + self.wpe[:T]
        for block in self.blocks:
            h = F.layer_norm(x, (C,), block.ln1_w, block.ln1_b)
            q, k, v = self.linear(block, "qkv", h).split(C, dim=2)
            q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
            x = x + self.linear(block, "proj", y)
            h = F.layer_norm(x, (C,), block.ln2_w, block.ln2_b)
            x = x + self.linear(block, "fc_proj", F.gelu(self.linear(block, "fc", h), approximate="tanh"))
        x = F.layer_norm(x, (C,), self.lnf_w, self.lnf_b)
        return x @ self.wte.t()


def hf_model(args):
    from peft import LoraConfig, get_peft_model
    from transformers import GPT2Config, GPT2LMHeadModel

    # No base dropout, as in Starling's model; LoRA dropout 0.1 as in the paper.
    config = GPT2Config(
        n_layer=args.layers, n_head=args.heads, n_embd=args.width, vocab_size=args.vocab,
        n_positions=args.seq, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=args.vocab - 1, eos_token_id=args.vocab - 1,
    )
    base = GPT2LMHeadModel(config)
    lora = LoraConfig(
        r=args.rank, lora_alpha=32, lora_dropout=0.1, fan_in_fan_out=True,
        target_modules=["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"],
    )
    model = get_peft_model(base, lora)
    return model, lambda inputs: model(input_ids=inputs).logits


def llama_model(args):
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    # SmolLM-135M: 30 blocks, width 576, 9 heads over 3 kv heads, MLP 1536, tied.
    args.layers, args.heads, args.width, args.vocab = 30, 9, 576, 49152
    base = LlamaForCausalLM(LlamaConfig(
        num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3, hidden_size=576,
        intermediate_size=1536, vocab_size=49152, max_position_embeddings=args.seq, rms_norm_eps=1e-5,
        rope_theta=10000.0, tie_word_embeddings=True, attention_dropout=0.0,
    ))
    lora = LoraConfig(r=args.rank, lora_alpha=32, lora_dropout=0.1, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
    model = get_peft_model(base, lora)
    return model, lambda inputs: model(input_ids=inputs).logits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--vocab", type=int, default=50257)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--rank", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--impl", choices=["plain", "hf"], default="plain")
    parser.add_argument("--compile", action="store_true", help="torch.compile the plain model")
    parser.add_argument("--family", choices=["gpt2", "llama"], default="gpt2",
                        help="llama: LlamaForCausalLM at the SmolLM-135M shape with PEFT LoRA on q, k, v, o")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(1)

    if args.family == "llama":
        model, forward = llama_model(args)
    elif args.impl == "plain":
        model = PlainLoRAGPT2(args.layers, args.heads, args.width, args.vocab, args.seq, args.rank, 32.0, 0.1)
        forward = torch.compile(model) if args.compile else model
    else:
        model, forward = hf_model(args)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=2e-3, betas=(0.9, 0.95), weight_decay=1e-3)

    generator = torch.Generator().manual_seed(2)
    inputs = torch.randint(0, args.vocab, (args.batch, args.seq), generator=generator)
    targets = torch.randint(0, args.vocab, (args.batch, args.seq), generator=generator)

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        logits = forward(inputs)
        loss = F.cross_entropy(logits.view(-1, args.vocab), targets.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        return loss.item()

    for _ in range(args.warmup):
        step()
    start = time.perf_counter()
    losses = [step() for _ in range(args.steps)]
    seconds = (time.perf_counter() - start) / args.steps

    print(json.dumps({
        "framework": f"torch {torch.__version__}",
        "family": args.family,
        "impl": "hf" if args.family == "llama" else args.impl + (" compiled" if args.compile else ""),
        "omp_wait_policy": os.environ["OMP_WAIT_POLICY"],
        "layers": args.layers, "heads": args.heads, "width": args.width, "vocab": args.vocab,
        "seq": args.seq, "batch": args.batch, "rank": args.rank, "threads": args.threads, "steps": args.steps,
        "trainable_parameters": sum(p.numel() for p in trainable),
        "tokens_per_second": args.batch * args.seq / seconds,
        "ms_per_step": seconds * 1e3,
        "first_loss": losses[0], "last_loss": losses[-1],
    }, sort_keys=True))


if __name__ == "__main__":
    main()
