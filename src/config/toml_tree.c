/* The TOML value tree: allocation, ordered tables with a hash index, arrays and accessors. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include "config/toml_internal.h"

/* Below this many keys a linear scan over the stored hashes beats maintaining an index. */
#define TOML_INDEX_THRESHOLD 8

struct toml_value *toml_value_new(enum toml_kind kind, struct toml_pos pos)
{
    struct toml_value *v = calloc(1, sizeof(*v));
    if (v) {
        v->kind = kind;
        v->pos = pos;
    }
    return v;
}

static void free_table(struct toml_table *t)
{
    for (size_t i = 0; i < t->count; i++) {
        free(t->slots[i].key);
        toml_free(t->slots[i].value);
    }
    free(t->slots);
    free(t->index);
}

/* Recursion is bounded: the parser refuses nesting deeper than TOML_MAX_DEPTH. */
void toml_free(struct toml_value *v)
{
    if (!v)
        return;
    switch (v->kind) {
    case TOML_STRING:
        free(v->as.string.text);
        break;
    case TOML_ARRAY:
        for (size_t i = 0; i < v->as.array.count; i++)
            toml_free(v->as.array.items[i]);
        free(v->as.array.items);
        break;
    case TOML_TABLE:
        free_table(&v->as.table);
        break;
    default:
        break;
    }
    free(v);
}

/* The seed comes from the kernel's per-process random bytes so that a hostile document cannot
 * precompute keys that all collide in the index. */
static uint64_t hash_seed(void)
{
    static _Atomic uint64_t seed;
    uint64_t s = atomic_load_explicit(&seed, memory_order_relaxed);
    if (s == 0) {
        const void *random = (const void *)getauxval(AT_RANDOM);
        s = 0x9E3779B97F4A7C15u;
        if (random)
            memcpy(&s, random, sizeof(s));
        s |= 1;
        atomic_store_explicit(&seed, s, memory_order_relaxed);
    }
    return s;
}

static uint64_t hash_key(const char *key, size_t len)
{
    uint64_t h = 0xcbf29ce484222325u ^ hash_seed();
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 0x100000001b3u;
    }
    /* FNV mixes the low bits poorly; the index uses exactly those. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    return h;
}

static bool slot_matches(const struct toml_slot *s, uint64_t hash, const char *key, size_t len)
{
    return s->hash == hash && s->key_len == len && memcmp(s->key, key, len) == 0;
}

static void index_insert(struct toml_table *t, size_t slot_number)
{
    size_t mask = t->index_capacity - 1;
    size_t i = t->slots[slot_number].hash & mask;
    while (t->index[i] != 0)
        i = (i + 1) & mask;
    t->index[i] = slot_number + 1;
}

static bool index_rebuild(struct toml_table *t, size_t capacity)
{
    size_t *index = calloc(capacity, sizeof(*index));
    if (!index)
        return false;
    free(t->index);
    t->index = index;
    t->index_capacity = capacity;
    for (size_t i = 0; i < t->count; i++)
        index_insert(t, i);
    return true;
}

static size_t find_slot(const struct toml_table *t, const char *key, size_t len)
{
    uint64_t hash = hash_key(key, len);
    if (!t->index) {
        for (size_t i = 0; i < t->count; i++)
            if (slot_matches(&t->slots[i], hash, key, len))
                return i;
        return SIZE_MAX;
    }
    size_t mask = t->index_capacity - 1;
    for (size_t i = hash & mask; t->index[i] != 0; i = (i + 1) & mask) {
        size_t n = t->index[i] - 1;
        if (slot_matches(&t->slots[n], hash, key, len))
            return n;
    }
    return SIZE_MAX;
}

struct toml_value *toml_table_lookup(struct toml_value *table, const char *key, size_t len)
{
    if (!table || table->kind != TOML_TABLE)
        return NULL;
    size_t n = find_slot(&table->as.table, key, len);
    return n == SIZE_MAX ? NULL : table->as.table.slots[n].value;
}

static bool grow_slots(struct toml_table *t)
{
    if (t->count < t->capacity)
        return true;
    size_t capacity = t->capacity ? t->capacity * 2 : 4;
    struct toml_slot *slots = reallocarray(t->slots, capacity, sizeof(*slots));
    if (!slots)
        return false;
    t->slots = slots;
    t->capacity = capacity;
    return true;
}

/* Makes room in the index for n keys, keeping it at most half full. */
static bool reserve_index(struct toml_table *t, size_t n)
{
    if (n < TOML_INDEX_THRESHOLD)
        return true;
    if (t->index && n * 2 <= t->index_capacity)
        return true;
    size_t capacity = t->index_capacity ? t->index_capacity : 2 * TOML_INDEX_THRESHOLD;
    while (n * 2 > capacity)
        capacity *= 2;
    return index_rebuild(t, capacity);
}

bool toml_table_add(struct toml_value *table, char *key, size_t key_len, struct toml_pos key_pos,
                    struct toml_value *value)
{
    struct toml_table *t = &table->as.table;
    if (!grow_slots(t) || !reserve_index(t, t->count + 1)) {
        free(key);
        toml_free(value);
        return false;
    }
    t->slots[t->count] = (struct toml_slot){
        .key = key, .key_len = key_len, .hash = hash_key(key, key_len),
        .key_pos = key_pos, .value = value,
    };
    t->count++;
    if (t->index)
        index_insert(t, t->count - 1);
    return true;
}

bool toml_array_append(struct toml_value *array, struct toml_value *item)
{
    struct toml_array *a = &array->as.array;
    if (a->count == a->capacity) {
        size_t capacity = a->capacity ? a->capacity * 2 : 4;
        struct toml_value **items = reallocarray(a->items, capacity, sizeof(*items));
        if (!items) {
            toml_free(item);
            return false;
        }
        a->items = items;
        a->capacity = capacity;
    }
    a->items[a->count++] = item;
    return true;
}

struct toml_value *toml_array_last(struct toml_value *array)
{
    const struct toml_array *a = &array->as.array;
    return a->count ? a->items[a->count - 1] : NULL;
}

/* Public accessors. */

enum toml_kind toml_kind_of(const struct toml_value *value)
{
    return value ? value->kind : TOML_NONE;
}

const char *toml_kind_name(enum toml_kind kind)
{
    switch (kind) {
    case TOML_NONE:
        return "nothing";
    case TOML_STRING:
        return "string";
    case TOML_INTEGER:
        return "integer";
    case TOML_FLOAT:
        return "float";
    case TOML_BOOL:
        return "boolean";
    case TOML_OFFSET_DATETIME:
        return "offset date-time";
    case TOML_LOCAL_DATETIME:
        return "local date-time";
    case TOML_LOCAL_DATE:
        return "local date";
    case TOML_LOCAL_TIME:
        return "local time";
    case TOML_ARRAY:
        return "array";
    case TOML_TABLE:
        return "table";
    }
    return "unknown";
}

struct toml_pos toml_position(const struct toml_value *value)
{
    return value ? value->pos : (struct toml_pos){0, 0};
}

const char *toml_as_string(const struct toml_value *value, size_t *len)
{
    if (!value || value->kind != TOML_STRING)
        return NULL;
    if (len)
        *len = value->as.string.len;
    return value->as.string.text;
}

bool toml_as_integer(const struct toml_value *value, int64_t *out)
{
    if (!value || value->kind != TOML_INTEGER)
        return false;
    *out = value->as.integer;
    return true;
}

bool toml_as_float(const struct toml_value *value, double *out)
{
    if (!value || value->kind != TOML_FLOAT)
        return false;
    *out = value->as.floating;
    return true;
}

bool toml_as_bool(const struct toml_value *value, bool *out)
{
    if (!value || value->kind != TOML_BOOL)
        return false;
    *out = value->as.boolean;
    return true;
}

static bool is_datetime_kind(enum toml_kind kind)
{
    return kind == TOML_OFFSET_DATETIME || kind == TOML_LOCAL_DATETIME ||
           kind == TOML_LOCAL_DATE || kind == TOML_LOCAL_TIME;
}

const struct toml_datetime *toml_as_datetime(const struct toml_value *value)
{
    if (!value || !is_datetime_kind(value->kind))
        return NULL;
    return &value->as.datetime;
}

static size_t format_time(const struct toml_datetime *dt, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%02d:%02d:%02d", dt->hour, dt->minute, dt->second);
    if (dt->fraction_digits > 0) {
        /* Print the digits the input had; nanosecond holds them scaled to 9 places. */
        int scaled = dt->nanosecond;
        for (int i = dt->fraction_digits; i < 9; i++)
            scaled /= 10;
        n += snprintf(buf + n, size - (size_t)n, ".%0*d", dt->fraction_digits, scaled);
    }
    return (size_t)n;
}

static size_t format_offset(const struct toml_datetime *dt, char *buf, size_t size)
{
    if (dt->offset_minutes == 0)
        return (size_t)snprintf(buf, size, "Z");
    int off = dt->offset_minutes < 0 ? -dt->offset_minutes : dt->offset_minutes;
    return (size_t)snprintf(buf, size, "%c%02d:%02d", dt->offset_minutes < 0 ? '-' : '+',
                            off / 60, off % 60);
}

size_t toml_datetime_format(const struct toml_value *value, char *buf, size_t size)
{
    const struct toml_datetime *dt = toml_as_datetime(value);
    if (!dt || size < TOML_DATETIME_TEXT_MAX)
        return 0;
    size_t n = 0;
    if (value->kind != TOML_LOCAL_TIME)
        n += (size_t)snprintf(buf, size, "%04d-%02d-%02d", dt->year, dt->month, dt->day);
    if (value->kind == TOML_LOCAL_DATE)
        return n;
    if (value->kind != TOML_LOCAL_TIME)
        buf[n++] = 'T';
    n += format_time(dt, buf + n, size - n);
    if (value->kind == TOML_OFFSET_DATETIME)
        n += format_offset(dt, buf + n, size - n);
    return n;
}

size_t toml_table_size(const struct toml_value *table)
{
    return table && table->kind == TOML_TABLE ? table->as.table.count : 0;
}

const struct toml_value *toml_table_getn(const struct toml_value *table, const char *key,
                                         size_t key_len)
{
    if (!key)
        return NULL;
    return toml_table_lookup((struct toml_value *)table, key, key_len);
}

const struct toml_value *toml_table_get(const struct toml_value *table, const char *key)
{
    return key ? toml_table_getn(table, key, strlen(key)) : NULL;
}

bool toml_table_entry(const struct toml_value *table, size_t index, struct toml_entry *out)
{
    if (index >= toml_table_size(table))
        return false;
    const struct toml_slot *s = &table->as.table.slots[index];
    *out = (struct toml_entry){
        .key = s->key, .key_len = s->key_len, .key_pos = s->key_pos, .value = s->value,
    };
    return true;
}

const struct toml_value *toml_get_path(const struct toml_value *root, const char *path)
{
    if (!path)
        return NULL;
    const struct toml_value *v = root;
    for (;;) {
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);
        v = toml_table_getn(v, path, len);
        if (!v || !dot)
            return v;
        path = dot + 1;
    }
}

size_t toml_array_size(const struct toml_value *array)
{
    return array && array->kind == TOML_ARRAY ? array->as.array.count : 0;
}

const struct toml_value *toml_array_get(const struct toml_value *array, size_t index)
{
    if (index >= toml_array_size(array))
        return NULL;
    return array->as.array.items[index];
}
