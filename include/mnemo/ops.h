// Every tensor operation mnemo computes on the CPU.
#pragma once

#include "mnemo/ops/conv.h"         // IWYU pragma: export
#include "mnemo/ops/elementwise.h"  // IWYU pragma: export
#include "mnemo/ops/embedding.h"    // IWYU pragma: export
#include "mnemo/ops/linalg.h"       // IWYU pragma: export
#include "mnemo/ops/loss.h"         // IWYU pragma: export
#include "mnemo/ops/normalization.h"  // IWYU pragma: export
#include "mnemo/ops/pooling.h"      // IWYU pragma: export
#include "mnemo/ops/reduction.h"    // IWYU pragma: export
