#!/usr/bin/env python3
"""PyTorch CPU baseline for `starling bench train`.

Times LoRA training steps (forward, backward, gradient clipping, AdamW on the adapter
parameters only) of a randomly initialised Hugging Face GPT-2 of the same shape, with
PEFT LoRA on the same four projections (attn.c_attn, attn.c_proj, mlp.c_fc,
mlp.c_proj), the same thread count and random token ids. Prints one JSON object.

    python3 tools/bench_torch_lora.py --threads 2
    python3 tools/bench_torch_lora.py --threads 2 --family llama --rank 8   # SmolLM-135M, LoRA on q, k, v, o

Needs torch, transformers and peft; used only for comparison, never by the build.
"""

import argparse
import json
import time

import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM


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
    parser.add_argument("--family", choices=["gpt2", "llama"], default="gpt2",
                        help="llama: LlamaForCausalLM at the SmolLM-135M shape, LoRA on q, k, v, o")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(1)

    if args.family == "llama":
        # SmolLM-135M: 30 blocks, width 576, 9 heads over 3 kv heads, MLP 1536, tied.
        args.layers, args.heads, args.width, args.vocab = 30, 9, 576, 49152
        base = LlamaForCausalLM(LlamaConfig(
            num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3, hidden_size=576,
            intermediate_size=1536, vocab_size=49152, max_position_embeddings=args.seq, rms_norm_eps=1e-5,
            rope_theta=10000.0, tie_word_embeddings=True, attention_dropout=0.0,
        ))
        lora = LoraConfig(r=args.rank, lora_alpha=32, lora_dropout=0.1,
                          target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
        run(args, base, lora)
        return

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
    run(args, base, lora)


def run(args, base, lora) -> None:
    model = get_peft_model(base, lora)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=2e-3, betas=(0.9, 0.95), weight_decay=1e-3)

    generator = torch.Generator().manual_seed(2)
    inputs = torch.randint(0, args.vocab, (args.batch, args.seq), generator=generator)
    targets = torch.randint(0, args.vocab, (args.batch, args.seq), generator=generator)

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        logits = model(input_ids=inputs).logits
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
        "framework": f"torch {torch.__version__}", "family": args.family,
        "layers": args.layers, "heads": args.heads, "width": args.width, "vocab": args.vocab,
        "seq": args.seq, "batch": args.batch, "rank": args.rank, "threads": args.threads, "steps": args.steps,
        "trainable_parameters": sum(p.numel() for p in trainable),
        "tokens_per_second": args.batch * args.seq / seconds,
        "ms_per_step": seconds * 1e3,
        "first_loss": losses[0], "last_loss": losses[-1],
    }, sort_keys=True))


if __name__ == "__main__":
    main()
