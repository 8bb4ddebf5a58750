/*
 * The rule --resume follows after the release (docs/cli.md): the VC
 * moves on when every VM can, goes back when none switched yet, and is
 * split only when the user asks for it; a VM whose place no QEMU tells
 * stops everything.
 */
#include "resume.h"

#define HELD LIMEVI_PLACE_HELD
#define SWITCHED LIMEVI_PLACE_SWITCHED
#define STRANDED LIMEVI_PLACE_STRANDED
#define UNKNOWN LIMEVI_PLACE_UNKNOWN

typedef struct {
    const char *path;
    LimeviPlace places[4];
    gboolean force_split;
    LimeviResumeAction want;
} Case;

static const Case cases[] = {
    { "/resume/all-held/finish", { HELD, HELD, HELD, HELD }, FALSE,
      LIMEVI_RESUME_FINISH },
    { "/resume/some-switched-rest-held/finish",
      { SWITCHED, HELD, SWITCHED, HELD }, FALSE, LIMEVI_RESUME_FINISH },
    { "/resume/all-switched/finish",
      { SWITCHED, SWITCHED, SWITCHED, SWITCHED }, FALSE,
      LIMEVI_RESUME_FINISH },
    { "/resume/one-stranded-none-switched/roll-back",
      { HELD, STRANDED, HELD, HELD }, FALSE, LIMEVI_RESUME_ROLL_BACK },
    { "/resume/one-stranded-none-switched-forced/still-roll-back",
      { HELD, STRANDED, HELD, HELD }, TRUE, LIMEVI_RESUME_ROLL_BACK },
    { "/resume/stranded-and-switched/refuse",
      { SWITCHED, STRANDED, HELD, HELD }, FALSE, LIMEVI_RESUME_REFUSE },
    { "/resume/stranded-and-switched-forced/split",
      { SWITCHED, STRANDED, HELD, HELD }, TRUE, LIMEVI_RESUME_SPLIT },
    { "/resume/one-unknown/refuse", { HELD, HELD, UNKNOWN, HELD }, FALSE,
      LIMEVI_RESUME_REFUSE },
    { "/resume/one-unknown-forced/still-refuse",
      { SWITCHED, STRANDED, UNKNOWN, HELD }, TRUE, LIMEVI_RESUME_REFUSE },
};

static void test_decide(gconstpointer data)
{
    const Case *c = data;

    g_assert_cmpint(limevi_resume_decide(c->places, 4, c->force_split), ==,
                    c->want);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_test_add_data_func(cases[i].path, &cases[i], test_decide);
    }
    return g_test_run();
}
