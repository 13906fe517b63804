/* vec_keys.h - written by make_vectors: the secret key files and cards of
 * the test posts, for the fuzz harnesses.  TEST KEYS ONLY: public, never
 * use them for anything but tests. */
#ifndef VEC_KEYS_H
#define VEC_KEYS_H

static const char vec_card_alpha[] =
    "# valija public card of post vec-alpha\n"
    "# fingerprint: G74C FRDX MFZW CXJE BPB5 7WIZ MANL 4I4C\n"
    "valija-card: 1\n"
    "post: vec-alpha\n"
    "sign: ogo21TDX+Ert8tamVT/7l6fMjgFVSeuQv3bCtrLLaAI=\n"
    "box: 2e33/jWMt0mIf1Pq36w9cEQ8fkdt+wm1mPsLeW45Alw=\n"
    "curve: lID+7haOnbQA7MLnEwn0PRSRyDNwaSJeN1+sBNbjYTo=\n"
    "signature: lH5ZnWe7YAefT007VVvCYodFv9kvRdXGz+H6MLMxJSeCNC+aVZChwH2JRTthrwGi3yAqd7JrjUrJwz6yD10jAA==\n"
    ;
static const char vec_key_alpha[] =
    "# TEST KEY ONLY: published with valija's test vectors; never use it for a real post\n"
    "# valija secret key of post vec-alpha: keep it private, never send it\n"
    "valija-secret-key: 1\n"
    "post: vec-alpha\n"
    "sign-seed: w2/TisZJmYUMSVs47WAePQMVIG7FkFbHgTsw4027oBw=\n"
    "box-secret: EQjzUQR34OUe+pZWCmkgYwA1JOy9kqFUEBx0T9721cI=\n"
    "curve-secret: RrIwHI5g7Sispfs4A097g0vJ1Zcm/hk9HFLzQbe05ls=\n"
    "check: 70ptT8vGgnHMoinhoArm1w==\n"
    ;
static const char vec_card_bravo[] =
    "# valija public card of post vec-bravo\n"
    "# fingerprint: GEPY OU74 6KQF JFK7 JTBC PN72 2UTK BB4B\n"
    "valija-card: 1\n"
    "post: vec-bravo\n"
    "sign: C3OPKJ/0XY8+2EoiY2Zh7ngy3zlsoTo7qYFiMwEeCwc=\n"
    "box: CZ67+fxxwHtHzGsf1WA1JNL98E5DOt8IRI6B2ijpTGo=\n"
    "curve: sLZiQdNhbTDHJs6HnFSKcU/GMM8MA9EclPGYFXsBUyA=\n"
    "signature: 2nyB8IZRMTPSNsYMbdHkMts1fmgW9w+qzzaVYoic59oTpv6DuiOt3Tq04a+EZFz4wNBSJ0xQpjBSrL7eQLBAAA==\n"
    ;
static const char vec_key_bravo[] =
    "# TEST KEY ONLY: published with valija's test vectors; never use it for a real post\n"
    "# valija secret key of post vec-bravo: keep it private, never send it\n"
    "valija-secret-key: 1\n"
    "post: vec-bravo\n"
    "sign-seed: Jw0V/2vDJRD8Bzl6F38CmWIi2aGJxDFb362WjNXZI0k=\n"
    "box-secret: 3fo3o4PkcpsvTrYtJ5Q0euR+1HjoGtS+zV7bQ6TixFc=\n"
    "curve-secret: 5Vw3oh5dSTXvMXRVGTQFJjEKtcz8PNepFuDc5AcA7/4=\n"
    "check: 2TVoFPA2AbDZIXAy8DmJSw==\n"
    ;
static const char vec_card_charlie[] =
    "# valija public card of post vec-charlie\n"
    "# fingerprint: HZNA WLBX TC57 AJF5 IEHI VXU4 CHU6 UMVM\n"
    "valija-card: 1\n"
    "post: vec-charlie\n"
    "sign: XCvyHpeT9ho/Wvxb7GTAMU5QCtGQCC+YMDDALAok5ec=\n"
    "box: j1v2HpdGSAGrIM6pE1m51rQzngahj6nMz3iy8jsquU0=\n"
    "curve: bB9aHMGdaWlkG19C/IQY0n1LfKGpQiOqhQrskxDw7W0=\n"
    "signature: f/dBIhWYDOX751R9k8EArC17vW/SRy+NQalFC6hhWcCNQYtshCdFu1aSXULGDKoPrrOTqvDYpJm19kCdiocVCw==\n"
    ;
static const char vec_key_charlie[] =
    "# TEST KEY ONLY: published with valija's test vectors; never use it for a real post\n"
    "# valija secret key of post vec-charlie: keep it private, never send it\n"
    "valija-secret-key: 1\n"
    "post: vec-charlie\n"
    "sign-seed: /dyN9gHoVJXWzPU29Q/x2AcWKeZnaVB48d7kAe6DgFM=\n"
    "box-secret: fccmdubTZS2Ja9tCs+mn8Ng7Fto0Hz/rzSC0NiIFdZ8=\n"
    "curve-secret: VRq/V2VdB5VkTGzaEDzNYKEg5/+SMymwPdPDpOHgUcw=\n"
    "check: asHQL5O4f7Rm7swhRaCQnQ==\n"
    ;

#endif
