// mnemo: save and load what a neural network has learned, PyTorch's way, in C++.
// This header includes the whole public API.
#pragma once

#include "mnemo/autograd.h"          // IWYU pragma: export
#include "mnemo/checkpoint/model_file.h"  // IWYU pragma: export
#include "mnemo/core/device.h"       // IWYU pragma: export
#include "mnemo/core/dtype.h"        // IWYU pragma: export
#include "mnemo/core/error.h"        // IWYU pragma: export
#include "mnemo/core/generator.h"    // IWYU pragma: export
#include "mnemo/core/state_dict.h"   // IWYU pragma: export
#include "mnemo/core/storage.h"      // IWYU pragma: export
#include "mnemo/core/tensor.h"       // IWYU pragma: export
#include "mnemo/core/value.h"        // IWYU pragma: export
#include "mnemo/nn.h"                // IWYU pragma: export
#include "mnemo/ops.h"               // IWYU pragma: export
#include "mnemo/optim.h"             // IWYU pragma: export
#include "mnemo/version.h"           // IWYU pragma: export
