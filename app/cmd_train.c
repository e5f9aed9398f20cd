/*
 * cmd_train.c - `cxpulse train LABELS.jsonl... --out FILE`: learns a model
 * file from labeled events with the same feature code that classifies.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "classify.h"
#include "commands.h"
#include "labels.h"

#define MAX_FILES 64

static int usage(FILE *out, int rc)
{
    fprintf(out,
            "usage: cxpulse train LABELS.jsonl [LABELS.jsonl...] --out FILE [--rules FILE]...\n"
            "                     [--from MODEL] [--epochs N] [--rate X] [--l2 X]\n"
            "                     [--l2-sentiment X] [--dropout-sentiment X] [--balance X]\n"
            "                     [--min-df N] [--seed N]\n\n"
            "Learns a model from labeled events (- reads stdin), one JSON object a line:\n"
            "  {\"event\": {...event.v1...}, \"categories\": [...], \"sentiment\": \"...\"}\n"
            "(a line without \"categories\" teaches the sentiment only, for events\n"
            "whose feeling is known and whose categories nobody labeled)\n"
            "and writes it to FILE (use it with --model FILE or rules.model; FILE may be\n"
            "a model, the --from one too, never a label or rule file read). The rules\n"
            "(--rules, else CXPULSE_RULES, else the built-in rule files; \"default\" names\n"
            "those, so --rules default --rules mine.json adds to them) are features of\n"
            "the model: classify with the same rules. Lines that are not labeled events\n"
            "are reported on stderr and left out, and so is a line whose event_id an\n"
            "earlier line has; the model is written without them and train exits 1.\n"
            "The same input gives the same file (on the same build and CPU). Exits 2\n"
            "for bad usage (--out not a file: a pipe, a device, stdout) or a rule or\n"
            "model file that cannot be read, 1 for any other failure.\n"
            "--from MODEL starts from a model (\"default\": the built-in one, with the\n"
            "built-in rules) and adapts it to the events: the way to train on a few\n"
            "hundred of your own labeled events.\n");
    return rc;
}

/* Which input out is (the same file by device and inode, however each is
 * named: a link, "./x", stdin redirected from it): "the label file X" or
 * "the rule file X" into buf, or NULL. The model must not overwrite what it
 * is learned from; a model (--from) may be replaced, as adapting in place
 * does. */
static const char *same_as_input(const char *out, const char *const *files, size_t n_files,
                                 const char *const *rules, size_t n_rules, char *buf, size_t len)
{
    struct stat o, in;
    if (stat(out, &o) != 0)
        return NULL; /* a new file */
    for (size_t i = 0; i < n_files + n_rules; i++) {
        int label = i < n_files;
        const char *p = label ? files[i] : rules[i - n_files];
        int std_in = label && strcmp(p, "-") == 0;
        int got = std_in                                            ? fstat(STDIN_FILENO, &in)
                  : !label && strcmp(p, CX_CLASSIFIER_BUILTIN) == 0 ? -1
                                                                    : stat(p, &in);
        if (got == 0 && in.st_dev == o.st_dev && in.st_ino == o.st_ino) {
            snprintf(buf, len, "the %s file %s", label ? "label" : "rule",
                     std_in ? "read from stdin" : p);
            return buf;
        }
    }
    return NULL;
}

/* What the model cannot learn from the events labeled with categories (n
 * of them; set: the categories every one of them has, when all have the
 * same non-empty set, else 0): a category none has is learned only as
 * absent, and with one set for all, nothing tells events apart. Sentiment-
 * only lines teach no category: none labeled, nothing to say. */
static void warn_categories(const cx_train_report *rep, size_t n, unsigned set, int from)
{
    for (int c = 0; c < CX_CAT_COUNT && n > 0; c++)
        if (rep->labeled[c] == 0)
            fprintf(stderr,
                    "cxpulse train: warning: none of the %zu events labeled with categories has "
                    "%s: the model learns it only as absent and will seldom if ever tag it%s\n",
                    n, cx_category_name((cx_category)c),
                    from ? " (unless the base model's weights for it hold)" : "");
    if (n > 1 && set != 0) {
        char names[100] = "";
        for (int c = 0; c < CX_CAT_COUNT; c++)
            if ((set >> c) & 1u)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                         names[0] ? " and " : "", cx_category_name((cx_category)c));
        fprintf(stderr,
                "cxpulse train: warning: all %zu events labeled with categories have the same "
                "ones, %s: nothing in them tells the model when %s applies and when not\n",
                n, names, (set & (set - 1)) ? "each" : names);
    }
}

int cx_cmd_train(int argc, char **argv)
{
    const char *files[MAX_FILES], *rules[MAX_FILES], *outp = NULL, *from = NULL;
    size_t n_files = 0, n_rules = 0;
    cx_train_options opt;
    char err[1024];
    cx_train_options_default(&opt);
    if (cx_cmd_wants_help(argc, argv))
        return usage(stdout, CX_EXIT_OK);
    /* numeric options: where each goes, and what it may be */
    double epochs = opt.epochs, rate = opt.rate, l2 = opt.l2, l2_sent = opt.l2_sent,
           dropout = opt.dropout_sent, balance = opt.balance, min_df = opt.min_df, seed = opt.seed;
    const cx_cmd_number nums[] = {
        {"--epochs", "a whole number from 1 to 100000", &epochs, 1, 1e5, 1},
        {"--rate", "a number above 0", &rate, 1e-30, 1e30, 0},
        {"--l2", "a number of at least 0", &l2, 0, 1e30, 0},
        {"--l2-sentiment", "a number of at least 0", &l2_sent, 0, 1e30, 0},
        {"--dropout-sentiment", "a number from 0 to 0.9", &dropout, 0, 0.9, 0},
        {"--balance", "a number from 0 to 1", &balance, 0, 1, 0},
        {"--min-df", "a whole number from 1 to 1000000000", &min_df, 1, 1e9, 1},
        {"--seed", "a whole number from 0 to 4294967295", &seed, 0, 4294967295.0, 1},
    };
    const cx_cmd_string strs[] = {
        {"--out", &outp, NULL, 0},
        {"--from", &from, NULL, 0},
        {"--rules", rules, &n_rules, MAX_FILES},
    };
    const cx_cmd_spec spec = {CX_CMD_OPTIONS(nums, strs), .pos = files, .max_pos = MAX_FILES,
                              .n_pos = &n_files};
    if (cx_cmd_parse_options("train", argv + 1, argc - 1, &spec) != 0)
        return usage(stderr, CX_EXIT_USAGE);
    opt.epochs = (int)epochs;
    opt.rate = (float)rate;
    opt.l2 = (float)l2;
    opt.l2_sent = (float)l2_sent;
    opt.dropout_sent = (float)dropout;
    opt.balance = (float)balance;
    opt.min_df = (int)min_df;
    opt.seed = (unsigned)seed;
    if (n_files == 0 || outp == NULL) {
        fprintf(stderr, "cxpulse train: needs LABELS.jsonl and --out FILE\n");
        return usage(stderr, CX_EXIT_USAGE);
    }
    cx_config *env = NULL; /* CXPULSE_RULES, as run reads it */
    const char *said;
    int bad = cx_cmd_read_rules_env("train", rules, &n_rules, MAX_FILES, NULL, &env, &said);
    char input[1100];
    struct stat o, so;
    if (bad == 0 && stat(outp, &o) == 0 &&
        (!S_ISREG(o.st_mode) ||
         (fstat(STDOUT_FILENO, &so) == 0 && so.st_dev == o.st_dev && so.st_ino == o.st_ino))) {
        char shown[1024];
        fprintf(stderr,
                "cxpulse train: --out %s is %s: a model is written to a file of its own "
                "(train prints its report on stdout)\n",
                cx_cmd_quote_path(outp, shown, sizeof shown),
                S_ISREG(o.st_mode)   ? "where stdout goes"
                : S_ISDIR(o.st_mode) ? "a folder"
                                     : "not a file (a pipe or a device)");
        bad = CX_EXIT_USAGE;
    }
    char folder[1024] = "."; /* where the model is written */
    const char *slash = strrchr(outp, '/');
    if (slash != NULL)
        snprintf(folder, sizeof folder, "%.*s", slash == outp ? 1 : (int)(slash - outp), outp);
    struct stat fs;
    if (bad == 0 && (stat(folder, &fs) != 0 || !S_ISDIR(fs.st_mode) ||
                     access(folder, W_OK | X_OK) != 0)) { /* found now, not after the training */
        char shown[1024], in[1024];
        int e = stat(folder, &fs) == 0 && !S_ISDIR(fs.st_mode) ? ENOTDIR : errno;
        fprintf(stderr, "cxpulse train: --out %s: folder %s %s\n",
                cx_cmd_quote_path(outp, shown, sizeof shown),
                cx_cmd_quote_path(folder, in, sizeof in),
                e == ENOENT    ? "does not exist"
                : e == ENOTDIR ? "is not a folder"
                               : "is not writable: the model is written there before it replaces "
                                 "the file");
        bad = CX_EXIT_USAGE;
    }
    if (bad == 0 && same_as_input(outp, files, n_files, rules, n_rules, input, sizeof input)) {
        char shown[1024];
        fprintf(stderr,
                "cxpulse train: --out %s is %s: the model would overwrite it (name another "
                "file)\n",
                cx_cmd_quote_path(outp, shown, sizeof shown),
                cx_escape_controls(input, sizeof input));
        bad = CX_EXIT_USAGE;
    }
    if (bad != 0) {
        cx_config_free(env);
        return bad;
    }
    cx_classifier *clf = NULL;
    cx_trainer *t = NULL;
    cx_label_ids *ids = cx_label_ids_new();
    int rc = CX_EXIT_RUNTIME;
    unsigned long skipped = 0;
    size_t n_cats = 0;      /* events labeled with their categories */
    unsigned first_set = 0; /* the first one's categories */
    int one_set = 1;        /* every one's the same */
    opt.from_model = from != NULL;
    if (ids == NULL) {
        fprintf(stderr, "cxpulse train: out of memory\n");
        goto done;
    }
    if (cx_classifier_new_model(&clf, rules, n_rules,
                                from == NULL                   ? "none"
                                : strcmp(from, "default") == 0 ? NULL
                                                               : from,
                                err, sizeof err) != CX_OK ||
        cx_trainer_new(&t, clf, &opt, err, sizeof err) != CX_OK) {
        fprintf(stderr, "cxpulse train: %s%s\n", err, said);
        rc = CX_EXIT_USAGE;
        goto done;
    }
    cx_cmd_classifier_warnings("train", clf);
    for (size_t k = 0; k < n_files; k++) {
        FILE *f = cx_cmd_open_input(files[k]);
        if (f == NULL) {
            cx_cmd_file_error("train", files[k], "cannot open", errno);
            goto done;
        }
        unsigned long lineno = 0;
        cx_label_line l;
        int r;
        while ((r = cx_label_next(f, files[k], &lineno, &l, err, sizeof err)) != 0) {
            int left_out =
                r < 0 ? 1 : cx_label_ids_seen(ids, &l, files[k], lineno, err, sizeof err);
            if (left_out != 0) {
                fprintf(stderr, "cxpulse train: %s\n", err);
                cx_label_line_clear(&l);
                if (left_out < 0) {
                    cx_cmd_close_input(f);
                    goto done;
                }
                skipped++;
                continue;
            }
            if (l.categories != CX_TRAIN_NO_CATEGORIES) { /* for the warnings */
                one_set &= n_cats == 0 || l.categories == first_set;
                first_set = n_cats++ == 0 ? l.categories : first_set;
            }
            cx_status st = cx_trainer_add(t, &l.ev, l.categories, l.sentiment, err, sizeof err);
            cx_label_line_clear(&l);
            if (st != CX_OK) {
                fprintf(stderr, "cxpulse train: %s\n", err);
                cx_cmd_close_input(f);
                goto done;
            }
        }
        if (ferror(f)) {
            cx_cmd_file_error("train", files[k], "cannot read", errno);
            cx_cmd_close_input(f);
            goto done;
        }
        cx_cmd_close_input(f);
    }
    if (cx_trainer_write(t, outp, err, sizeof err) != CX_OK) {
        fprintf(stderr, "cxpulse train: %s\n", err);
        goto done;
    }
    cx_classifier *check = NULL;
    if (cx_classifier_new_model(&check, rules, n_rules, outp, err, sizeof err) != CX_OK) {
        fprintf(stderr, "cxpulse train: %s\n", err);
        goto done;
    }
    printf("trained on %zu events (%lu lines left out): %s, rule set %s\n", cx_trainer_count(t),
           skipped, outp, cx_classifier_version(check));
    cx_train_report rep;
    cx_trainer_report(t, &rep);
    for (int c = 0; c < CX_CAT_COUNT; c++) {
        printf("  %-14s %6zu labeled, threshold %.2f", cx_category_name((cx_category)c),
               rep.labeled[c], rep.threshold[c]);
        if (!rep.chosen[c])
            printf(" (%sfewer than %d labeled)", from != NULL ? "the base model's: " : "",
                   CX_TRAIN_MIN_LABELED);
        else
            printf(", F1 %.2f out of fold", rep.f1[c]);
        putchar('\n');
    }
    printf("  sentiment: accuracy %.2f out of fold", rep.sentiment_accuracy);
    if (rep.sentiment_only > 0)
        printf(" (%zu events labeled with their sentiment only)", rep.sentiment_only);
    putchar('\n');
    cx_classifier_free(check);
    warn_categories(&rep, n_cats, one_set ? first_set : 0, from != NULL);
    rc = CX_EXIT_OK;
    if (skipped > 0) { /* the model is there, but not of every line given */
        fprintf(stderr,
                "cxpulse train: %lu line%s left out (named above): %s was written without them\n",
                skipped, skipped == 1 ? " was" : "s were", outp);
        rc = CX_EXIT_RUNTIME;
    }
done:
    cx_label_ids_free(ids);
    cx_trainer_free(t);
    cx_classifier_free(clf);
    cx_config_free(env);
    return rc;
}
