/* vj_codec.c - bounded protobuf decoding and validators for names and text.
 *
 * Invariant: no untrusted byte string reaches protobuf_c_message_unpack()
 * without passing the caller's size cap first.
 */
#include "vj_codec.h"

#include <stdlib.h>
#include <string.h>

int vj_codec_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                    size_t max_len, ProtobufCMessage **out)
{
    *out = NULL;
    if (desc == NULL || (data == NULL && len > 0))
        return VJ_E_INVAL;
    if (len > max_len)
        return VJ_E_TOOBIG;
    ProtobufCMessage *msg = protobuf_c_message_unpack(desc, NULL, len, data);
    if (msg == NULL)
        return VJ_E_PARSE;
    *out = msg;
    return VJ_OK;
}

int vj_codec_pack(const ProtobufCMessage *msg, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(n > 0 ? n : 1);
    if (buf == NULL)
        return VJ_E_NOMEM;
    size_t written = protobuf_c_message_pack(msg, buf);
    if (written != n) {
        free(buf);
        return VJ_E_PARSE;
    }
    *out = buf;
    *out_len = n;
    return VJ_OK;
}

void vj_codec_free(ProtobufCMessage *msg)
{
    if (msg != NULL)
        protobuf_c_message_free_unpacked(msg, NULL);
}

int vj_post_name_is_valid(const char *name)
{
    if (name == NULL)
        return 0;
    size_t n = strlen(name);
    if (n == 0 || n > VJ_POST_NAME_MAX || name[0] == '-' || name[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return 0;
    }
    return 1;
}

int vj_case_id_is_valid(const char *id)
{
    if (id == NULL)
        return 0;
    size_t n = strlen(id);
    if (n == 0 || n > VJ_CASE_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int vj_text_is_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n')
                return 0;
            if (c == 0x7f)
                return 0;
            i++;
            continue;
        }
        size_t extra;
        unsigned int cp;
        if ((c & 0xe0) == 0xc0) {
            extra = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            extra = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            extra = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (len - i <= extra)
            return 0;
        for (size_t k = 1; k <= extra; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        /* overlong forms, surrogates and values past U+10FFFF */
        if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) ||
            (extra == 3 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += extra + 1;
    }
    return 1;
}
