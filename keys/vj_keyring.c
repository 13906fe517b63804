/* vj_keyring.c - this post's identity with the pinned cards of the posts it
 * knows and the crypto_box shared keys precomputed for each.
 *
 * Invariants: every pinned card has a valid self-signature; a post name, a
 * signing key, a box key and a CURVE key each belong to at most one pinned
 * card; the shared keys live in one sodium_malloc'ed block, read-only except
 * while a card is added, wiped when replaced or destroyed.
 */
#include "vj_keyring.h"
#include "vj_keyring_priv.h"

#include <stdlib.h>
#include <string.h>

#include "vj_identity_priv.h"

#define S_MAX_CARDS 4096

struct vj_keyring {
    const vj_identity *self;
    vj_card *cards;
    size_t n;
    size_t cap;
    uint8_t *shared; /* cap * crypto_box_BEFORENMBYTES, sodium_malloc'ed */
};

static int s_grow(vj_keyring *kr)
{
    size_t cap = kr->cap == 0 ? 8 : kr->cap * 2;
    vj_card *cards = NULL;
    uint8_t *shared = NULL;
    if (cap > S_MAX_CARDS)
        return VJ_E_TOOBIG;
    cards = calloc(cap, sizeof *cards);
    shared = sodium_malloc(cap * crypto_box_BEFORENMBYTES);
    if (cards == NULL || shared == NULL) {
        free(cards);
        if (shared != NULL)
            sodium_free(shared);
        return VJ_E_NOMEM;
    }
    if (kr->n > 0) {
        memcpy(cards, kr->cards, kr->n * sizeof *cards);
        memcpy(shared, kr->shared, kr->n * crypto_box_BEFORENMBYTES);
    }
    free(kr->cards);
    if (kr->shared != NULL)
        sodium_free(kr->shared);
    kr->cards = cards;
    kr->shared = shared;
    kr->cap = cap;
    sodium_mprotect_readonly(kr->shared);
    return VJ_OK;
}

static vj_card *s_find(const vj_keyring *kr, const char *post)
{
    for (size_t i = 0; i < kr->n; i++)
        if (strcmp(kr->cards[i].post, post) == 0)
            return &kr->cards[i];
    return NULL;
}

int vj_keyring_new(const vj_identity *self, vj_keyring **out)
{
    int ret = VJ_E_INVAL;
    vj_keyring *kr = NULL;
    vj_card card;
    if (out == NULL)
        return VJ_E_INVAL;
    *out = NULL;
    if (self == NULL)
        goto out;
    kr = calloc(1, sizeof *kr);
    if (kr == NULL) {
        ret = VJ_E_NOMEM;
        goto out;
    }
    kr->self = self;
    ret = vj_card_from_identity(self, &card);
    if (ret != VJ_OK)
        goto out;
    ret = vj_keyring_add(kr, &card);
    if (ret != VJ_OK)
        goto out;
    *out = kr;
    kr = NULL;
out:
    vj_keyring_destroy(&kr);
    return ret;
}

int vj_keyring_add(vj_keyring *kr, const vj_card *card)
{
    int ret = VJ_E_INVAL;
    if (kr == NULL || card == NULL)
        goto out;
    ret = vj_card_verify(card);
    if (ret != VJ_OK)
        goto out;
    const vj_card *old = s_find(kr, card->post);
    if (old != NULL) {
        ret = memcmp(old, card, sizeof *card) == 0 ? VJ_OK : VJ_E_EXISTS;
        goto out;
    }
    for (size_t i = 0; i < kr->n; i++) {
        const vj_card *c = &kr->cards[i];
        if (memcmp(c->sign_pk, card->sign_pk, VJ_SIGN_PK_LEN) == 0 ||
            memcmp(c->box_pk, card->box_pk, VJ_BOX_PK_LEN) == 0 ||
            memcmp(c->curve_pk, card->curve_pk, VJ_CURVE_KEY_LEN) == 0) {
            ret = VJ_E_EXISTS; /* a key already pinned for another post */
            goto out;
        }
    }
    if (kr->n == kr->cap) {
        ret = s_grow(kr);
        if (ret != VJ_OK)
            goto out;
    }
    sodium_mprotect_readwrite(kr->shared);
    uint8_t *k = kr->shared + kr->n * crypto_box_BEFORENMBYTES;
    int bad = crypto_box_beforenm(k, card->box_pk, vj_identity_box_sk(kr->self)) != 0;
    if (bad)
        sodium_memzero(k, crypto_box_BEFORENMBYTES);
    sodium_mprotect_readonly(kr->shared);
    if (bad) {
        ret = VJ_E_REFUSED; /* a low-order box key: no shared secret */
        goto out;
    }
    kr->cards[kr->n++] = *card;
    ret = VJ_OK;
out:
    return ret;
}

const vj_card *vj_keyring_find(const vj_keyring *kr, const char *post)
{
    if (kr == NULL || post == NULL)
        return NULL;
    return s_find(kr, post);
}

const char *vj_keyring_find_by_curve(const vj_keyring *kr, const uint8_t curve_pk[VJ_CURVE_KEY_LEN])
{
    if (kr == NULL || curve_pk == NULL)
        return NULL;
    for (size_t i = 0; i < kr->n; i++)
        if (sodium_memcmp(kr->cards[i].curve_pk, curve_pk, VJ_CURVE_KEY_LEN) == 0)
            return kr->cards[i].post;
    return NULL;
}

const vj_identity *vj_keyring_self(const vj_keyring *kr)
{
    return kr == NULL ? NULL : kr->self;
}

const uint8_t *vj_keyring_shared_key(const vj_keyring *kr, const char *post)
{
    if (kr == NULL || post == NULL)
        return NULL;
    for (size_t i = 0; i < kr->n; i++)
        if (strcmp(kr->cards[i].post, post) == 0)
            return kr->shared + i * crypto_box_BEFORENMBYTES;
    return NULL;
}

void vj_keyring_destroy(vj_keyring **kr)
{
    if (kr == NULL || *kr == NULL)
        return;
    if ((*kr)->shared != NULL)
        sodium_free((*kr)->shared);
    free((*kr)->cards);
    free(*kr);
    *kr = NULL;
}
