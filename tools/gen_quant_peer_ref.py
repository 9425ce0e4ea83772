#!/usr/bin/env python3
"""Reference for tests/unit/test_quant_peer.c: llama.cpp's quantizer and server on a tiny model.

Run once by hand (CI has no llama.cpp); writes tests/data/quant/peer_reference.json:
  - the tiny f32 model hearth generates (`hearth make-model --shape tiny --type f32 --seed 7`)
    is quantized by llama.cpp's `llama-quantize --pure F32 OUT TYPE` for every TYPE below
    (CARRIED types: the file is copied to tests/data/quant/, as hearth cannot write them);
  - for each file: the SHA-256 of every tensor's data (the test quantizes the same f32 model
    with hearth and must produce the same bytes), and llama-server's next-token top-5
    log-probs for a few prompts (token ids; POST /completion, n_predict 1, n_probs 5,
    temperature 0), which the test compares with hearth's on its own (identical) file.

  - the importance-matrix types (IMATRIX below: llama-quantize refuses them without one) are
    quantized with `--imatrix tests/data/quant/tiny.imatrix --token-embedding-type q4_K` (the
    token embeddings are looked up, not multiplied, so the imatrix has nothing for them) and
    carried like the CARRIED ones. The imatrix itself is carried; --new-imatrix remakes it with
    llama-imatrix over the first 20000 bytes of IMATRIX_TEXT (the run is not bit-reproducible
    across machines, which is why the file is kept).

Usage: tools/gen_quant_peer_ref.py [LLAMA_BIN_DIR] [--only T1,T2] [--new-imatrix]
  (default /work/peer/llama.cpp/build/bin; --only: regenerate just these types, keeping the
  other entries of the existing JSON)
"""
import hashlib, json, os, shutil, struct, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN, ONLY, NEW_IMATRIX = "/work/peer/llama.cpp/build/bin", None, False
_argv = sys.argv[1:]
while _argv:
    _a = _argv.pop(0)
    if _a == "--only":
        ONLY = _argv.pop(0).split(",")
    elif _a == "--new-imatrix":
        NEW_IMATRIX = True
    else:
        BIN = _a
TYPES = ["IQ4_NL", "IQ4_XS", "TQ1_0", "TQ2_0"]
# Types hearth cannot write (no quantizer): llama-quantize's file itself is carried
# (tests/data/quant/tiny-TYPE.gguf) and the test reads it.
CARRIED = ["IQ3_S"]
# Importance-matrix types: ggml type name -> llama-quantize's ftype name whose --pure type it is
# (the ftype "IQ2_S" is ggml's IQ2_XS; ggml's IQ2_S is the ftype "IQ2_M"). Carried.
IMATRIX = {"IQ3_XXS": "IQ3_XXS", "IQ2_XXS": "IQ2_XXS", "IQ2_XS": "IQ2_XS", "IQ2_S": "IQ2_M",
           "IQ1_S": "IQ1_S", "IQ1_M": "IQ1_M"}
IMATRIX_FILE = os.path.join(ROOT, "tests/data/quant/tiny.imatrix")
IMATRIX_TEXT = os.path.join(ROOT, "docs/ENGINE.md")
IMATRIX_CMD = ("llama-imatrix -m tiny-f32.gguf -f TEXT -o tiny.imatrix -c 128 --chunks 8 "
               "--process-output -t 2 --no-ppl")
# Candidate prompts; one whose greedy next token is an incomplete UTF-8 byte gets no
# completion_probabilities from the server and is skipped (the file records the ones used).
PROMPTS = [[1, 300, 301, 302], [1, 450, 20, 77, 600, 512, 99], [1, 260, 261, 262, 263, 264, 265,
           266, 267, 268, 269, 270], [1, 700, 5, 400, 401], [1, 280, 290, 310, 320, 330],
           [1, 500, 501, 502, 503, 504, 505, 506], [1, 620, 640, 660], [1, 350, 360, 370, 380]]
# ggml type id -> (block elements, block bytes)
SIZES = {0: (1, 4), 1: (1, 2), 2: (32, 18), 21: (256, 110), 8: (32, 34), 12: (256, 144), 14: (256, 210),
         20: (32, 18), 23: (256, 136), 34: (256, 54), 35: (256, 66), 39: (32, 17),
         16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 22: (256, 82), 29: (256, 56),
         10: (256, 84), 11: (256, 110), 13: (256, 176)}


def tensor_hashes(path):
    b = open(path, "rb").read()
    o = 4

    def u(fmt):
        nonlocal o
        v = struct.unpack_from("<" + fmt, b, o)
        o += struct.calcsize(fmt)
        return v[0]

    def s():
        nonlocal o
        n = u("Q")
        v = b[o:o + n]
        o += n
        return v.decode()

    fm = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def val(t):
        if t == 8:
            return s()
        if t == 9:
            at, n = u("I"), u("Q")
            return [val(at) for _ in range(n)]
        return u(fm[t])

    u("I")
    nt, nkv = u("Q"), u("Q")
    kv = {}
    for _ in range(nkv):
        k = s()
        kv[k] = val(u("I"))
    align = kv.get("general.alignment", 32)
    ts = []
    for _ in range(nt):
        name = s()
        ne = [u("Q") for _ in range(u("I"))]
        ty, off = u("I"), u("Q")
        ts.append((name, ne, ty, off))
    base = (o + align - 1) // align * align
    out = {}
    for name, ne, ty, off in ts:
        be, bs = SIZES[ty]
        n = 1
        for d in ne:
            n *= d
        data = b[base + off:base + off + n // be * bs]
        out[name] = {"type": ty, "sha256": hashlib.sha256(data).hexdigest()}
    return out


def server_logprobs(model, port):
    p = subprocess.Popen([f"{BIN}/llama-server", "-m", model, "--port", str(port), "-t", "2",
                          "-c", "256", "-np", "1"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        res = []
        for prompt in PROMPTS:
            body = json.dumps({"prompt": prompt, "n_predict": 1, "n_probs": 5, "temperature": 0,
                               "cache_prompt": False}).encode()
            req = urllib.request.Request(f"http://127.0.0.1:{port}/completion", data=body,
                                         headers={"Content-Type": "application/json"})
            r = json.load(urllib.request.urlopen(req, timeout=60))
            if "completion_probabilities" not in r:
                continue
            top = r["completion_probabilities"][0]["top_logprobs"]
            res.append({"prompt_ids": prompt,
                        "top5": [[t["id"], t["logprob"]] for t in top]})
        return res
    finally:
        p.terminate()
        p.wait()


def main():
    tmp = tempfile.mkdtemp(prefix="quant-peer-")
    f32 = os.path.join(tmp, "tiny-f32.gguf")
    subprocess.check_call([os.path.join(ROOT, "build/release/hearth"), "make-model", "--shape",
                           "tiny", "--type", "f32", "--seed", "7", f32])
    dst = os.path.join(ROOT, "tests/data/quant/peer_reference.json")
    out = {"model": "hearth make-model --shape tiny --type f32 --seed 7",
           "quantizer": "llama-quantize --pure F32 OUT TYPE (llama.cpp c392e509, Feb 2025)",
           "quantizer_imatrix": "llama-quantize --pure --imatrix tiny.imatrix "
                                "--token-embedding-type q4_K F32 OUT FTYPE (FTYPE: ftype_of)",
           "ftype_of": IMATRIX,
           "imatrix": IMATRIX_CMD + " (TEXT: the first 20000 bytes of docs/ENGINE.md)",
           "server": "llama-server -m OUT -t 2 -c 256 -np 1; POST /completion {prompt: ids, "
                     "n_predict: 1, n_probs: 5, temperature: 0, cache_prompt: false}",
           "types": {}}
    if ONLY:
        old = json.load(open(dst))
        out["types"] = old["types"]
    if NEW_IMATRIX or not os.path.exists(IMATRIX_FILE):
        text = os.path.join(tmp, "text.txt")
        with open(text, "wb") as f:
            f.write(open(IMATRIX_TEXT, "rb").read()[:20000])
        subprocess.check_call([f"{BIN}/llama-imatrix", "-m", f32, "-f", text, "-o", IMATRIX_FILE,
                               "-c", "128", "--chunks", "8", "--process-output", "-t", "2",
                               "--no-ppl"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for i, t in enumerate(TYPES + CARRIED + list(IMATRIX)):
        if ONLY and t not in ONLY:
            continue
        q = os.path.join(tmp, f"tiny-{t}.gguf")
        if t in IMATRIX:
            cmd = [f"{BIN}/llama-quantize", "--pure", "--imatrix", IMATRIX_FILE,
                   "--token-embedding-type", "q4_K", f32, q, IMATRIX[t]]
        else:
            cmd = [f"{BIN}/llama-quantize", "--pure", f32, q, t]
        subprocess.check_call(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out["types"][t] = {"tensors": tensor_hashes(q), "cases": server_logprobs(q, 18640 + i)}
        if t in CARRIED or t in IMATRIX:
            shutil.copyfile(q, os.path.join(ROOT, f"tests/data/quant/tiny-{t}.gguf"))
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with open(dst, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote", dst)


if __name__ == "__main__":
    main()
